-- wrk script: POST one decision per request to /v1/is_authorized, cycling
-- through a mix of allow and deny requests on the demo workspace.
-- wrk -t1 -c8 -d10s -s bench/single.lua http://127.0.0.1:8180
-- WRK_PATH=/v1/floor sends the same bodies to the floor route (serve
-- --floor-route), which answers a constant: the HTTP floor of the server.
local bodies = dofile("bench/requests.lua")
local path = os.getenv("WRK_PATH") or "/v1/is_authorized"
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, path, nil, bodies[(i % #bodies) + 1])
end
