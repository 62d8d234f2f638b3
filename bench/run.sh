#!/usr/bin/env bash
# run.sh is make bench: it runs package bench BENCHCOUNT times (rounds), each
# round a fresh process in which every workload's baseline and topicrpc
# sides run back to back, then the domain, app and adapter benchmarks, all
# into one benchstat-friendly file, and writes docs/BENCHMARKS.md from it
# (bench/cmd/report). About 7 minutes on 2 cores with the defaults.
# Run it under scripts/with-broker.sh for the RabbitMQ workloads.
#
# Settings (environment): BENCHCOUNT rounds (5), BENCHTIME per benchmark
# (1s), BENCH the benchmarks of package bench to run (.), BENCHOUT the output
# file (bench.out, copied to docs/bench.txt at the end), GO the go command (go).
set -euo pipefail

count="${BENCHCOUNT:-5}"
benchtime="${BENCHTIME:-1s}"
out="${BENCHOUT:-bench.out}"
go="${GO:-go}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mkdir -p bin
"$go" test -c -o bin/bench.test ./bench
: >"$out"
for i in $(seq "$count"); do
	echo "bench: round $i of $count" >&2
	BENCH_ROUND="$i" bin/bench.test -test.run '^$' -test.bench "${BENCH:-.}" -test.benchmem \
		-test.benchtime "$benchtime" | tee -a "$out"
done
# The topic index against linear matching, every round; then every other
# benchmark of the domain, app and adapter packages once.
"$go" test -run '^$' -bench 'IndexMatch$|LinearMatch$' -benchmem -benchtime "$benchtime" -count "$count" \
	./domain/ | tee -a "$out"
"$go" test -run '^$' -bench . -benchmem -benchtime "$benchtime" ./domain/ ./app/ ./adapters/... | tee -a "$out"
"$go" run ./bench/cmd/report -in "$out"
# The output the tables were made from, kept beside them (bench.out itself is
# not tracked): go run ./bench/cmd/report -in docs/bench.txt -out '' prints them again.
cp "$out" docs/bench.txt
