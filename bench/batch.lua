-- wrk script: POST batches of 8 decisions to /v1/batch_is_authorized.
-- wrk -t1 -c8 -d10s -s bench/batch.lua http://127.0.0.1:8180
local items = {
  '{"principal":"User::\\"erin\\"","action":"Action::\\"editProjectDetails\\"","resource":"Project::\\"website\\""}',
  '{"principal":"User::\\"bob\\"","action":"Action::\\"viewProject\\"","resource":"Project::\\"website\\""}',
  '{"principal":"User::\\"frank\\"","action":"Action::\\"completeTask\\"","resource":"Task::\\"website-qa\\""}',
  '{"principal":"User::\\"frank\\"","action":"Action::\\"editTask\\"","resource":"Task::\\"website-qa\\""}',
  '{"principal":"User::\\"carol\\"","action":"Action::\\"viewProject\\"","resource":"Project::\\"internal\\""}',
  '{"principal":"User::\\"ivy\\"","action":"Action::\\"viewProjectField\\"","resource":"Project::\\"launch\\"","context":{"field":"stage"}}',
  '{"principal":"User::\\"bob\\"","action":"Action::\\"logTime\\"","resource":"Project::\\"website\\"","context":{"forUser":{"type":"User","id":"erin"}}}',
  '{"principal":"User::\\"alice\\"","action":"Action::\\"viewTask\\"","resource":"Task::\\"alice-notes\\""}',
}
wrk.method = "POST"
wrk.path = "/v1/batch_is_authorized"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"requests":[' .. table.concat(items, ",") .. ']}'
