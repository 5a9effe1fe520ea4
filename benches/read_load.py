"""Reads against `ikrar serve` on the ledger `gen_ten_million.py` makes, from 4 threads.

    python3 benches/read_load.py SECONDS [KINDS]

KINDS, comma-separated (all by default): 0 a commitment's state, 1 its audit history, 2 an
event's inclusion proof (needs a signed checkpoint), 3 a summary in a past basis, 4 a
commitment's state in a past basis, 5 the summary, 6 a page of the list of commitments with
a status, in a past basis. The server is expected on 127.0.0.1:18080
(`ikrar serve --listen 127.0.0.1:18080 --public-read`); prints the count of each kind and
status. Peak memory is the server's `VmHWM` in /proc/PID/status.
"""
import random, sys, time, threading, urllib.error, urllib.request

BASE = "http://127.0.0.1:18080"
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 20
KINDS = [int(k) for k in sys.argv[2].split(",")] if len(sys.argv) > 2 else list(range(7))
COMMITMENTS = 100_000
counts = {}


def cid(n):
    return "0194a1c2-0000-7000-8000-%012x" % n


def eid(n):
    if n < COMMITMENTS:
        return "0194a1c2-0000-7000-9000-%012x" % n
    return "0194a1c2-0000-7000-a000-%012x" % (n - COMMITMENTS + 1)


def worker(seed):
    r = random.Random(seed)
    end = time.time() + SECONDS
    while time.time() < end:
        k = r.choice(KINDS)
        n = r.randrange(COMMITMENTS)
        url = [f"/v1/commitments/{cid(n)}", f"/v1/commitments/{cid(n)}/history",
               f"/v1/proofs/inclusion/{eid(r.randrange(9_900_000))}", "/v1/summary?as_of=2023-06-01",
               f"/v1/commitments/{cid(n)}?as_of=2022-01-01", "/v1/summary",
               f"/v1/commitments?status=in_progress&limit=20&offset={n % 1000}&as_of=2023-06-01"][k]
        try:
            with urllib.request.urlopen(BASE + url, timeout=60) as resp:
                resp.read()
                code = resp.status
        except urllib.error.HTTPError as e:
            code = e.code
        counts[(k, code)] = counts.get((k, code), 0) + 1


threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(counts.items()))
