-- wrk script: POST batches of 8 decisions to /v1/batch_is_authorized.
-- wrk -t1 -c8 -d10s -s bench/batch.lua http://127.0.0.1:8180
local items = dofile("bench/requests.lua")
wrk.method = "POST"
wrk.path = "/v1/batch_is_authorized"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"requests":[' .. table.concat(items, ",") .. ']}'
