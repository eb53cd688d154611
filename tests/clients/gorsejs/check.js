// Gorse's official JavaScript client (gorsejs, from npm, unchanged) against a
// running rtrec serve: every call the client has, with the answers checked.
// Run by tests/http/gorse_client_test.cpp:
//
//   node check.js http://127.0.0.1:PORT API_KEY
//
// Prints "check: <name>" before each step and "all N checks passed" at the
// end; exits 1 at the first failure, naming the step and what differed.
"use strict";

const assert = require("node:assert/strict");
const { Gorse } = require("gorsejs");

const [endpoint, secret] = process.argv.slice(2);
if (!endpoint || !secret) {
  console.error("usage: node check.js http://127.0.0.1:PORT API_KEY");
  process.exit(2);
}
const client = new Gorse({ endpoint, secret });
const timestamp = "2022-08-07T00:26:46Z";
let passed = 0;

async function check(name, fn) {
  console.log(`check: ${name}`);
  await fn();
  ++passed;
}

// The status of a call that must fail (gorsejs throws GorseException).
async function statusOf(promise) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.name, "GorseException", `not a GorseException: ${e}`);
    return e.code;
  }
  assert.fail("the call succeeded");
}

// The item side applies feedback a moment after the write is answered:
// asks again (over HTTP, as a client would) until `ok(answer)` or 10 s.
async function eventually(call, ok) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const answer = await call();
    if (ok(answer)) return answer;
    if (Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Every page of a cursor listing (the client sends its cursor as "Cursor").
async function everyPage(list, field) {
  const out = [];
  let cursor = "";
  for (let pages = 0; pages < 100; ++pages) {
    const page = await list({ n: 2, Cursor: cursor });
    assert.ok(Array.isArray(page[field]), `no ${field} array in ${JSON.stringify(page)}`);
    assert.ok(page[field].length <= 2);
    out.push(...page[field]);
    cursor = page.Cursor;
    if (!cursor) return out;
  }
  assert.fail("the listing did not end in 100 pages");
}

const gorseUser = (u) => ({
  UserId: u.UserId,
  Labels: u.Labels,
  Subscribe: u.Subscribe,
  Comment: u.Comment,
});

async function users() {
  await check("insertUser / getUser", async () => {
    assert.equal(await client.insertUser({ UserId: "100", Labels: ["a", "b", "c"], Comment: "comment" }), 1);
    // rtrec adds "Recent" (the user's recent items); Gorse's fields are exact.
    assert.deepEqual(gorseUser(await client.getUser("100")), {
      UserId: "100", Labels: ["a", "b", "c"], Subscribe: null, Comment: "comment",
    });
  });
  await check("updateUser", async () => {
    assert.equal(await client.updateUser("100", { Comment: "changed" }), 1);
    const u = await client.getUser("100");
    assert.equal(u.Comment, "changed");
    assert.deepEqual(u.Labels, ["a", "b", "c"]);
  });
  await check("insertUsers / getUsers (cursor)", async () => {
    assert.equal(await client.insertUsers([{ UserId: "u1" }, { UserId: "u2" }, { UserId: "u3" }]), 3);
    const ids = (await everyPage((o) => client.getUsers(o), "Users")).map((u) => u.UserId);
    assert.deepEqual(ids.sort(), ["100", "u1", "u2", "u3"]);
  });
  await check("deleteUser", async () => {
    assert.equal(await client.deleteUser("100"), 1);
    assert.equal(await statusOf(client.getUser("100")), 404);
  });
}

async function items() {
  const item = {
    ItemId: "100", IsHidden: true, Labels: ["a", "b", "c"], Categories: ["d", "e"],
    Timestamp: timestamp, Comment: "comment",
  };
  await check("upsertItem / getItem (exactly Gorse's item)", async () => {
    assert.equal(await client.upsertItem(item), 1);
    assert.deepEqual(await client.getItem("100"), item);
  });
  await check("updateItem", async () => {
    assert.equal(await client.updateItem("100", { Comment: "changed", IsHidden: false }), 1);
    assert.deepEqual(await client.getItem("100"), { ...item, Comment: "changed", IsHidden: false });
  });
  await check("insertItemCategory / deleteItemCategory", async () => {
    assert.equal(await client.insertItemCategory("100", "f"), 1);
    assert.deepEqual((await client.getItem("100")).Categories.sort(), ["d", "e", "f"]);
    assert.equal(await client.deleteItemCategory("100", "d"), 1);
    assert.deepEqual((await client.getItem("100")).Categories.sort(), ["e", "f"]);
  });
  await check("upsertItems / getItems (cursor)", async () => {
    const more = ["x", "y", "z"].map((id) => ({ ItemId: id, IsHidden: false, Timestamp: timestamp }));
    assert.equal(await client.upsertItems(more), 3);
    const ids = (await everyPage((o) => client.getItems(o), "Items")).map((i) => i.ItemId);
    assert.deepEqual(ids.sort(), ["100", "x", "y", "z"]);
  });
  await check("deleteItem", async () => {
    assert.equal(await client.deleteItem("100"), 1);
    assert.equal(await statusOf(client.getItem("100")), 404);
  });
}

async function feedback() {
  await check("insertFeedbacks (Gorse's own test)", async () => {
    assert.equal(await client.insertFeedbacks([
      { FeedbackType: "like", UserId: "100", ItemId: "100", Timestamp: timestamp },
      { FeedbackType: "read", UserId: "100", ItemId: "200", Timestamp: timestamp },
      { FeedbackType: "read", UserId: "100", ItemId: "300", Timestamp: timestamp },
    ]), 3);
  });
  await check("getFeedback", async () => {
    const f = await client.getFeedback({ type: "like", userId: "100", itemId: "100" });
    assert.equal(f.FeedbackType, "like");
    assert.equal(f.UserId, "100");
    assert.equal(f.ItemId, "100");
    assert.equal(f.Timestamp, timestamp);
  });
  await check("upsertFeedbacks replaces, insertFeedbacks keeps", async () => {
    const later = "2023-01-01T00:00:00Z";
    await client.insertFeedbacks([{ FeedbackType: "like", UserId: "100", ItemId: "100", Timestamp: later }]);
    assert.equal((await client.getFeedback({ type: "like", userId: "100", itemId: "100" })).Timestamp, timestamp);
    assert.equal(await client.upsertFeedbacks([{ FeedbackType: "like", UserId: "100", ItemId: "100", Timestamp: later }]), 1);
    assert.equal((await client.getFeedback({ type: "like", userId: "100", itemId: "100" })).Timestamp, later);
  });
  await check("getUserFeedback / getUserFeedbackByType", async () => {
    assert.deepEqual((await client.getUserFeedback("100")).map((f) => f.ItemId).sort(), ["100", "200", "300"]);
    assert.deepEqual((await client.getUserFeedbackByType("100", "like")).map((f) => f.ItemId), ["100"]);
  });
  await check("getItemFeedback / getItemFeedbackByType", async () => {
    assert.deepEqual((await client.getItemFeedback("200")).map((f) => f.UserId), ["100"]);
    assert.deepEqual(await client.getItemFeedbackByType("200", "like"), []);
  });
  await check("getFeedbacks, all and by type (cursor)", async () => {
    const all = await everyPage((o) => client.getFeedbacks(undefined, o), "Feedback");
    assert.equal(all.length, 3);
    // "read" is stored under rtrec's name for it.
    const views = await everyPage((o) => client.getFeedbacks("view", o), "Feedback");
    assert.deepEqual(views.map((f) => f.ItemId).sort(), ["200", "300"]);
  });
  await check("deleteFeedback", async () => {
    await client.deleteFeedback({ type: "view", userId: "100", itemId: "300" });
    assert.equal(await statusOf(client.getFeedback({ type: "view", userId: "100", itemId: "300" })), 404);
    assert.deepEqual((await client.getUserFeedback("100")).map((f) => f.ItemId).sort(), ["100", "200"]);
  });
}

async function recommendations() {
  // Ten users like x and y together; "fan" likes x only.
  const likes = [];
  for (let k = 0; k < 10; ++k)
    for (const item of ["x", "y"]) likes.push({ FeedbackType: "like", UserId: `p${k}`, ItemId: item, Timestamp: timestamp });
  likes.push({ FeedbackType: "like", UserId: "fan", ItemId: "x", Timestamp: timestamp });
  await check("feedback for recommendations", async () => {
    assert.equal(await client.insertFeedbacks(likes), likes.length);
  });
  await check("getRecommend", async () => {
    const recs = await eventually(() => client.getRecommend({ userId: "fan" }), (r) => r.includes("y"));
    assert.ok(recs.includes("y"), JSON.stringify(recs));
    assert.ok(!recs.includes("x"), "an item the user has is not recommended");
  });
  await check("getRecommend with write-back", async () => {
    const recs = await client.getRecommend({ userId: "fan", writeBackType: "read" });
    assert.ok(recs.includes("y"));
    const written = (await client.getUserFeedbackByType("fan", "view")).map((f) => f.ItemId);
    assert.deepEqual(written.sort(), [...recs].sort());
  });
  await check("getSessionRecommend (Gorse's own test)", async () => {
    const recs = await client.getSessionRecommend([{ FeedbackType: "like", UserId: "400", ItemId: "x", Timestamp: timestamp }]);
    assert.ok(Array.isArray(recs));
    assert.equal(recs[0].Id, "y", JSON.stringify(recs));
    assert.equal(typeof recs[0].Score, "number");
  });
  await check("getItemNeighbors", async () => {
    const nb = await client.getItemNeighbors({ itemId: "x" });
    assert.ok(nb.some((n) => (n.Id ?? n) === "y"), JSON.stringify(nb));
  });
  await check("getUserNeighbors", async () => {
    const nb = await eventually(() => client.getUserNeighbors({ userId: "fan" }), (r) => r.length > 0);
    assert.ok(nb.some((n) => /^p\d$/.test(n.Id ?? n)), JSON.stringify(nb));
  });
  await check("getPopular", async () => {
    const pop = await eventually(() => client.getPopular({}), (r) => r.length > 0);
    assert.ok(pop.some((p) => p.Id === "x"), JSON.stringify(pop));
    assert.equal(typeof pop[0].Score, "number");
  });
  await check("getLatest", async () => {
    const latest = await client.getLatest({ cursorOptions: { n: 3 } });
    assert.ok(latest.length > 0 && latest.length <= 3, JSON.stringify(latest));
    assert.equal(typeof latest[0].Id, "string");
  });
  await check("a wrong key is refused", async () => {
    const stranger = new Gorse({ endpoint, secret: "not-the-key" });
    assert.equal(await statusOf(stranger.getPopular({})), 401);
  });
}

(async () => {
  try {
    await users();
    await items();
    await feedback();
    await recommendations();
  } catch (e) {
    console.error(`FAILED: ${e.stack || e}`);
    if (e.code !== undefined && e.message) console.error(`GorseException code ${e.code}: ${JSON.stringify(e.message)}`);
    process.exit(1);
  }
  console.log(`all ${passed} checks passed`);
})();
