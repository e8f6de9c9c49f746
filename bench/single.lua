-- wrk script: POST one decision per request to /v1/is_authorized, cycling
-- through a mix of allow and deny requests on the demo workspace.
-- wrk -t1 -c8 -d10s -s bench/single.lua http://127.0.0.1:8180
local bodies = dofile("bench/requests.lua")
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/is_authorized", nil, bodies[(i % #bodies) + 1])
end
