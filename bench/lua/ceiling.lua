-- wrk script for bench/http-load.sh's ceiling runs (GET /health/live): only prints p99.9
-- after wrk's report (wrk --latency stops at 99%).
function done(summary, latency, requests)
  io.write(string.format("Latency p99.9: %.2fms\n", latency:percentile(99.9) / 1000))
end
