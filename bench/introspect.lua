-- wrk script: POST /introspect of one valid access token (RFC 7662), the caller authenticated
-- with client_secret_basic. Needs BENCH_BASIC and BENCH_TOKEN in the environment; see bench/run.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/introspect"
wrk.body = "token=" .. os.getenv("BENCH_TOKEN") .. "&token_type_hint=access_token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
