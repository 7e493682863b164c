-- wrk script: GET /healthz with "Connection: close", so every request is a new connection -- over
-- https, a full TLS handshake (the server keeps no session cache and sends no tickets, so there
-- is no resumption). bench/tls divides the server's CPU by the requests: the cost of one
-- connection, almost all of it the handshake.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/healthz"
wrk.headers["Connection"] = "close"
