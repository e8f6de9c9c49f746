-- The request mix of the load scripts: allow and deny requests on the demo
-- workspace. Loaded by single.lua and batch.lua (run from the repository root).
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
