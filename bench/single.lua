-- wrk script: POST one decision per request to /v1/is_authorized, cycling
-- through a mix of allow and deny requests on the demo workspace.
-- wrk -t1 -c8 -d10s -s bench/single.lua http://127.0.0.1:8180
local bodies = {
  '{"principal":"User::\\"erin\\"","action":"Action::\\"editProjectDetails\\"","resource":"Project::\\"website\\""}',
  '{"principal":"User::\\"bob\\"","action":"Action::\\"viewProject\\"","resource":"Project::\\"website\\""}',
  '{"principal":"User::\\"frank\\"","action":"Action::\\"completeTask\\"","resource":"Task::\\"website-qa\\""}',
  '{"principal":"User::\\"frank\\"","action":"Action::\\"editTask\\"","resource":"Task::\\"website-qa\\""}',
  '{"principal":"User::\\"carol\\"","action":"Action::\\"viewProject\\"","resource":"Project::\\"internal\\""}',
  '{"principal":"User::\\"ivy\\"","action":"Action::\\"viewProjectField\\"","resource":"Project::\\"launch\\"","context":{"field":"stage"}}',
  '{"principal":"User::\\"bob\\"","action":"Action::\\"logTime\\"","resource":"Project::\\"website\\"","context":{"forUser":{"type":"User","id":"erin"}}}',
  '{"principal":"User::\\"alice\\"","action":"Action::\\"viewTask\\"","resource":"Task::\\"alice-notes\\""}',
}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/is_authorized", nil, bodies[(i % #bodies) + 1])
end
