// rtrec::testing through the installed package: the actor topology on CAF's
// deterministic scheduler, from a project outside rtrec's tree.
#include <tests/harness/topology_fixture.hpp>

using rtrec::testing::ev;

class deployment_test : public rtrec::testing::topology_fixture {};

TEST_F(deployment_test, a_view_shows_up_in_the_next_recommendation) {
  auto cfg = default_config();
  cfg.model.pair_window = 5;
  start(cfg);
  ASSERT_TRUE(ingest({ev("bob", "a"), ev("bob", "b")}));
  ASSERT_TRUE(flush());
  ASSERT_TRUE(ingest({ev("alice", "a")}));
  auto recs = recommend("alice", 5);
  ASSERT_TRUE(recs);
  ASSERT_FALSE(recs->empty());
  EXPECT_EQ(recs->front().item, "b");
}
