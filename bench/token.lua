-- wrk script: POST /token, grant_type=client_credentials with client_secret_basic.
-- Needs BENCH_BASIC (base64 of "client_id:client_secret") in the environment; see bench/run.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
