#!/usr/bin/env python3
# Item metadata writes (POST /api/item; CLIENTS clients, each on its own
# connection writing one at a time) through the meta writer's node and
# through another node, which forwards them (docs/replication.md, "Stage
# 1b"), on a 3-node `rtrec node` cluster on loopback with data directories
# in a temporary directory; the two alternate, ROUNDS times. Run from the
# repository root after scripts/setup.sh (needs python3).
# Usage: scripts/bench_meta_writes.py ROUNDS WRITES [fsync|none] [CLIENTS]
# Environment: RTREC_BIN (default build/apps/rtrec).
import http.client, json, os, socket, subprocess, sys, tempfile, threading, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

rounds, writes = int(sys.argv[1]), int(sys.argv[2])
sync = sys.argv[3] if len(sys.argv) > 3 else "fsync"
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 1
binary = os.environ.get("RTREC_BIN", "build/apps/rtrec")
tmp = tempfile.mkdtemp()
cports = [free_port() for _ in range(3)]
nodes = ",".join(f"127.0.0.1:{p}" for p in cports)
procs, hports = [], []
for n in range(3):
    pf = f"{tmp}/port{n}"
    procs.append(subprocess.Popen([binary, "node", "--nodes", nodes, "--node", str(n), "--port", "0",
        "--port-file", pf, "--data-dir", f"{tmp}/d{n}", "--sync", sync, "--profile-shards", "6",
        "--item-shards", "6", "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
for n in range(3):
    pf = f"{tmp}/port{n}"
    while not (os.path.exists(pf) and open(pf).read().strip()): time.sleep(0.05)
    hports.append(int(open(pf).read()))
def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", path); r = c.getresponse(); b = r.read(); c.close(); return r.status, b
while True:
    st, b = get(hports[0], "/api/cluster")
    j = json.loads(b) if st == 200 else {}
    if st == 200 and all(x.get("Up") for x in j.get("Nodes", [])): break
    time.sleep(0.1)
owner0 = j["ItemShardOwner"][0]
other = (owner0 + 1) % 3
def run(node, tag):
    def client(c_id):
        c = http.client.HTTPConnection("127.0.0.1", hports[node])
        for k in range(writes // clients):
            body = json.dumps({"ItemId": f"{tag}-{c_id}-{k}", "IsHidden": False, "Categories": ["c"]})
            c.request("POST", "/api/item", body, {"Content-Type": "application/json"})
            r = c.getresponse(); r.read()
            assert r.status == 200, r.status
        c.close()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    dt = time.perf_counter() - t0
    n = writes // clients * clients
    return n / dt, dt / n * 1e6
for rnd in range(rounds):
    a = run(owner0, f"w{rnd}"); b = run(other, f"f{rnd}")
    print(f"round {rnd} ({clients} clients): via the meta writer's node {a[0]:.0f} writes/s, via another node {b[0]:.0f} writes/s, ratio {b[0]/a[0]:.2f}")
for p in procs: p.kill()
subprocess.run(["rm", "-rf", tmp])
