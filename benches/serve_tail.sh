#!/bin/bash
# ikrar serve on the ten-million-event ledger, appended to beside it: peak RSS and answers.
BIN=$1; LEDGER=$2; PORT=$3
$BIN --ledger $LEDGER serve --listen 127.0.0.1:$PORT --no-tile-files > serve.log 2>&1 &
PID=$!
start=$(date +%s.%N)
until curl -sf http://127.0.0.1:$PORT/v1/summary > /dev/null; do sleep 0.05; done
echo "first summary after $(echo "$(date +%s.%N) - $start" | bc) s; VmHWM $(grep VmHWM /proc/$PID/status)"
for i in $(seq 1 20); do
  printf '{"type":"commitment_status_changed","actor":"kim","data":{"commitment_id":"0194a1c2-0000-7000-8000-%012x","status":"at_risk","label":"Slipping"}}\n' $((i * 7)) > one_$i.jsonl
  $BIN --ledger $LEDGER append one_$i.jsonl > /dev/null || echo "append $i failed"
  t0=$(date +%s.%N)
  curl -sf http://127.0.0.1:$PORT/v1/summary > summary_$i.json
  t1=$(date +%s.%N)
  [ $i = 1 ] || [ $i = 20 ] && echo "after append $i: summary in $(echo "$t1 - $t0" | bc) s; $(grep VmHWM /proc/$PID/status); $(grep VmRSS /proc/$PID/status)"
done
curl -sf "http://127.0.0.1:$PORT/v1/commitments?status=at_risk&limit=3" > list.json; echo "list: $(head -c 120 list.json)"
echo "at end: $(grep VmHWM /proc/$PID/status)"
kill $PID; wait $PID 2>/dev/null
python3 -c "import json;d=json.load(open('summary_20.json'));print(d['known_at'],d['by_status'])"
