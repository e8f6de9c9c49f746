-- The request mix of the load scripts. Loaded by single.lua and batch.lua
-- (run from the repository root). With TEAMGATE_REQUESTS naming a
-- requests.jsonl written by `teamgate generate`, its requests are used (the
-- `expect` field dropped); otherwise allow and deny requests on the demo
-- workspace.
local path = os.getenv("TEAMGATE_REQUESTS")
if path and path ~= "" then
  local bodies = {}
  for line in io.lines(path) do
    local body = line:gsub(',"expect":"%a+"', '')
    if body ~= "" then
      bodies[#bodies + 1] = body
    end
  end
  return bodies
end
return {
  '{"principal":"User::\\"erin\\"","action":"Action::\\"editProjectDetails\\"","resource":"Project::\\"website\\""}',
  '{"principal":"User::\\"bob\\"","action":"Action::\\"viewProject\\"","resource":"Project::\\"website\\""}',
  '{"principal":"User::\\"frank\\"","action":"Action::\\"completeTask\\"","resource":"Task::\\"website-qa\\""}',
  '{"principal":"User::\\"frank\\"","action":"Action::\\"editTask\\"","resource":"Task::\\"website-qa\\""}',
  '{"principal":"User::\\"carol\\"","action":"Action::\\"viewProject\\"","resource":"Project::\\"internal\\""}',
  '{"principal":"User::\\"ivy\\"","action":"Action::\\"viewProjectField\\"","resource":"Project::\\"launch\\"","context":{"field":"stage"}}',
  '{"principal":"User::\\"bob\\"","action":"Action::\\"logTime\\"","resource":"Project::\\"website\\"","context":{"forUser":{"type":"User","id":"erin"}}}',
  '{"principal":"User::\\"alice\\"","action":"Action::\\"viewTask\\"","resource":"Task::\\"alice-notes\\""}',
}
