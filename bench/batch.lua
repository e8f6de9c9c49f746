-- wrk script: POST batches of 8 decisions to /v1/batch_is_authorized,
-- cycling through the request mix of requests.lua.
-- wrk -t1 -c8 -d10s -s bench/batch.lua http://127.0.0.1:8180
local items = dofile("bench/requests.lua")
local size = 8
local batches = {}
for start = 1, #items, size do
  local part = {}
  for j = 0, size - 1 do
    part[#part + 1] = items[((start + j - 1) % #items) + 1]
  end
  batches[#batches + 1] = '{"requests":[' .. table.concat(part, ",") .. ']}'
end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/batch_is_authorized", nil, batches[(i % #batches) + 1])
end
