"""Writes N events of the input form to a JSON Lines file, for `ikrar append` at SPEC 9's size:
N/100 commitments made (each with an event_id), then status changes of each in turn, with an
effective date, until N events. Usage: python3 benches/gen_ten_million.py 10000000 e10m.jsonl
"""
import sys, random
n = int(sys.argv[1]); out = open(sys.argv[2], 'w', buffering=1<<22)
commitments = max(1, n // 100)
random.seed(42)
statuses = ["announced","in_progress","at_risk","fulfilled","partially_fulfilled","broken","withdrawn","superseded"]
w = out.write
def cid(i): return "0194a1c2-0000-7000-8000-%012x" % i
for i in range(commitments):
    w('{"type":"commitment_made","event_id":"0194a1c2-0000-7000-9000-%012x","actor":"bench","data":{"commitment_id":"%s","title":"Commitment %d: strengthen cooperation under the 2025 master plan","owner":"Ministry of Foreign Affairs","parties":["Japan"],"made_on":"2020-01-%02d"}}\n' % (i, cid(i), i, 1 + i % 28))
k = 0
for r in range(1, 100):
    for i in range(commitments):
        k += 1
        if k + commitments > n: break
        w('{"type":"commitment_status_changed","event_id":"0194a1c2-0000-7000-a000-%012x","actor":"bench","effective":"2023-%02d-%02d","data":{"commitment_id":"%s","status":"%s","label":"Underway – on track"}}\n' % (k, 1 + (k % 12), 1 + (k % 28), cid(i), statuses[k % 8]))
out.close()
