//! The permission matrix: every principal x action x resource of an entity
//! set (or a selection), grouped by resource type.

use std::collections::BTreeMap;

use cedar_policy::EntityUid;

use serde::Serialize;

use super::profile::{Profile, Profiles};
use super::universe::{self, Case, Shown, Slot, Space};
use crate::domain::samples;
use crate::{Query, Snapshot};

/// What to include.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Principals (`User::"erin"`); all when empty.
    pub principals: Vec<String>,
    /// Action names; all when empty.
    pub actions: Vec<String>,
    /// Resource types; all when empty.
    pub resource_types: Vec<String>,
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Principal uid.
    pub principal: String,
    /// Action name, with the sample context in brackets where it has one.
    pub action: String,
    /// Resource uid.
    pub resource: String,
    /// Resource type.
    pub resource_type: String,
    /// Allowed?
    pub allowed: bool,
    /// Denied because the request could not be evaluated (the reasons are errors).
    #[serde(skip)]
    pub failed: bool,
    /// Determining policies (or errors).
    pub reasons: Vec<String>,
    /// The principal's role, license, project role and place towards the
    /// resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// Computes the cells, in a stable order.
pub fn cells(snap: &Snapshot, sel: &Selection) -> Vec<Cell> {
    cells_with(snap, sel, &super::NoProgress)
}

/// The cases `sel` selects, as a numbered space.
pub fn space(snap: &Snapshot, sel: &Selection) -> Space {
    Space::new(
        snap,
        None,
        |action, _, rtype| {
            (sel.actions.is_empty() || sel.actions.iter().any(|a| a == action))
                && (sel.resource_types.is_empty() || sel.resource_types.iter().any(|t| t == rtype))
        },
        |p| sel.principals.is_empty() || sel.principals.iter().any(|x| x.trim() == p.to_string()),
    )
}

/// [`cells`], reporting progress.
pub fn cells_with(snap: &Snapshot, sel: &Selection, progress: &dyn super::Progress) -> Vec<Cell> {
    let space = space(snap, sel);
    let mut cells = Vec::with_capacity(space.len());
    universe::decide_space(
        snap,
        None,
        &space,
        progress,
        || Profiles::new(snap),
        to_cells,
        |block| cells.extend(block),
    );
    cells
}

/// Writes the CSV of `space` (header first) to `out` block by block as it
/// is decided, rendered on the deciding threads: a matrix of millions of
/// cells is never held whole. Returns the number of cells.
pub fn write_csv(
    snap: &Snapshot,
    space: &Space,
    progress: &dyn super::Progress,
    out: &mut dyn std::io::Write,
) -> std::io::Result<usize> {
    out.write_all(CSV_HEADER.as_bytes())?;
    let mut failed = None;
    universe::decide_space(
        snap,
        None,
        space,
        progress,
        || (),
        |(), decided| {
            // Straight from the slots: the CSV shows no profile.
            let mut text = String::with_capacity(decided.len() * 96);
            for (slot, d) in decided {
                csv_row(
                    &mut text,
                    [slot.resource_type, slot.principal_shown],
                    (slot.action, slot.context_label),
                    slot.resource_shown,
                    d.allowed,
                    d.causes,
                );
            }
            text
        },
        |text| {
            if failed.is_none() {
                failed = out.write_all(text.as_bytes()).err();
            }
        },
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(space.len()),
    }
}

/// Decided slots as cells with their profiles.
fn to_cells(profiles: &mut Profiles<'_>, decided: Vec<(Slot<'_>, Shown<'_>)>) -> Vec<Cell> {
    decided
        .into_iter()
        .map(|(slot, d)| Cell {
            principal: slot.principal_shown.to_string(),
            action: if slot.context_label.is_empty() {
                slot.action.to_string()
            } else {
                format!("{}[{}]", slot.action, slot.context_label)
            },
            resource: slot.resource_shown.to_string(),
            resource_type: slot.resource_type.to_string(),
            allowed: d.allowed,
            failed: d.failed,
            profile: profiles.of(slot.principal, slot.resource),
            reasons: d.causes.to_vec(),
        })
        .collect()
}

/// The cases decided, as cells with their profiles.
fn cases_to_cells(snap: &Snapshot, cases: Vec<Case>, progress: &dyn super::Progress) -> Vec<Cell> {
    let decisions = universe::decide_all_with(snap, None, &cases, progress);
    let mut profiles = Profiles::new(snap);
    cases
        .into_iter()
        .zip(decisions)
        .map(|(c, d)| {
            let action = c.query.action_name().to_string();
            let profile = profiles.of(c.query.principal(), c.query.resource());
            Cell {
                principal: c.query.principal().to_string(),
                action: if c.context_label.is_empty() {
                    action
                } else {
                    format!("{action}[{}]", c.context_label)
                },
                resource: c.query.resource().to_string(),
                resource_type: c.query.resource().type_name().to_string(),
                allowed: d.is_allowed(),
                failed: !d.errors().is_empty(),
                reasons: d.causes().to_vec(),
                profile,
            }
        })
        .collect()
}

/// The matrix by role: for each resource type, one row per combination of
/// (workspace role, license, project role, home or external) present in the
/// data, decided on the first principal and resource that have it -- what a
/// reviewer compares with the help articles, role by role.
pub fn cells_by_role(
    snap: &Snapshot,
    sel: &Selection,
    progress: &dyn super::Progress,
) -> Vec<Cell> {
    let keep_principal = |p: &EntityUid| {
        sel.principals.is_empty() || sel.principals.iter().any(|x| x.trim() == p.to_string())
    };
    let by_type = universe::by_type(snap, None);
    let envs: Vec<(EntityUid, String, String)> = universe::envs(snap)
        .into_iter()
        .filter(|(a, _, r)| {
            let name = a.id().unescaped().to_string();
            (sel.actions.is_empty() || sel.actions.contains(&name))
                && (sel.resource_types.is_empty() || sel.resource_types.contains(r))
        })
        .collect();
    let mut profiles = Profiles::new(snap);
    // (principal type, resource type) -> profile -> the first pair having it.
    let mut representatives: BTreeMap<(String, String), BTreeMap<Profile, (EntityUid, EntityUid)>> =
        BTreeMap::new();
    let empty = Vec::new();
    for (_, ptype, rtype) in &envs {
        let key = (ptype.clone(), rtype.clone());
        if representatives.contains_key(&key) {
            continue;
        }
        let mut found = BTreeMap::new();
        for p in by_type
            .get(ptype)
            .unwrap_or(&empty)
            .iter()
            .filter(|p| keep_principal(p))
        {
            for r in by_type.get(rtype).unwrap_or(&empty) {
                if let Some(profile) = profiles.of(p, r) {
                    found
                        .entry(profile)
                        .or_insert_with(|| (p.clone(), r.clone()));
                }
            }
        }
        representatives.insert(key, found);
    }
    let mut cases = Vec::new();
    for (action, ptype, rtype) in &envs {
        let name = action.id().unescaped().to_string();
        let Some(pairs) = representatives.get(&(ptype.clone(), rtype.clone())) else {
            continue;
        };
        for (p, r) in pairs.values() {
            for (label, context) in samples::contexts(&name, p) {
                cases.push(Case {
                    query: Query::new(p.clone(), action.clone(), r.clone()).with_context(context),
                    context_label: label,
                });
            }
        }
    }
    cases_to_cells(snap, cases, progress)
}

/// Cells of one resource type as a grid: rows (principal, resource), columns actions.
struct Grid<'a> {
    columns: Vec<&'a str>,
    rows: BTreeMap<(&'a str, &'a str), BTreeMap<&'a str, &'a Cell>>,
}

fn grids(cells: &[Cell]) -> BTreeMap<&str, Grid<'_>> {
    let mut out: BTreeMap<&str, Grid> = BTreeMap::new();
    for c in cells {
        let g = out.entry(&c.resource_type).or_insert_with(|| Grid {
            columns: Vec::new(),
            rows: BTreeMap::new(),
        });
        if !g.columns.contains(&c.action.as_str()) {
            g.columns.push(&c.action);
        }
        g.rows
            .entry((&c.principal, &c.resource))
            .or_default()
            .insert(&c.action, c);
    }
    out
}

/// Markdown: a table per resource type, ✅ allow, · deny; `by_role` puts
/// each row's profile first.
pub fn markdown(cells: &[Cell], version: &str, by_role: bool) -> String {
    let mut out = format!("# Permission matrix (version {version})\n\n✅ allow · deny\n");
    for (ty, g) in grids(cells) {
        let first = if by_role { "profile | " } else { "" };
        out.push_str(&format!(
            "\n## {ty}\n\n| {first}principal | resource | {} |\n",
            g.columns.join(" | ")
        ));
        let extra = if by_role { "---|" } else { "" };
        out.push_str(&format!(
            "|{extra}---|---|{}\n",
            "---|".repeat(g.columns.len())
        ));
        for ((p, r), row) in &g.rows {
            if by_role {
                let label = row
                    .values()
                    .next()
                    .and_then(|c| c.profile.as_ref())
                    .map(Profile::label)
                    .unwrap_or_default();
                out.push_str(&format!("| {label} "));
            }
            let marks: Vec<&str> = g
                .columns
                .iter()
                .map(|a| match row.get(a) {
                    Some(c) if c.allowed => "✅",
                    Some(_) => "·",
                    None => " ",
                })
                .collect();
            out.push_str(&format!("| `{p}` | `{r}` | {} |\n", marks.join(" | ")));
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One self-contained HTML page: coloured cells, sticky headers, a legend;
/// hovering a cell shows its determining policies.
pub fn html(cells: &[Cell], version: &str) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>teamgate permission matrix</title>\n<style>\n\
         body{font:13px system-ui,sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:2em}\n\
         th,td{border:1px solid #ccc;padding:2px 6px;text-align:center;white-space:nowrap}\n\
         thead th{position:sticky;top:0;background:#f4f4f4;writing-mode:vertical-rl;transform:rotate(180deg);height:11em}\n\
         tbody th{position:sticky;left:0;background:#fafafa;text-align:left;font-weight:normal}\n\
         td.a{background:#b7e4b0}td.d{background:#f3c1c1}td.e{background:#f9e79f}\n\
         .legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #ccc}\n</style></head><body>\n",
    );
    out.push_str(&format!(
        "<h1>Permission matrix</h1><p>version <code>{}</code></p>\n<p><input id=\"filter\" type=\"search\" size=\"50\" placeholder=\"Filter rows: a role, license, project role, user or resource\" autofocus></p>\n<p class=\"legend\"><span class=\"a\" style=\"background:#b7e4b0\">allow</span><span style=\"background:#f3c1c1\">deny</span><span style=\"background:#f9e79f\">deny (error)</span> Hover a cell for the policies that decided it.</p>\n",
        esc(version)
    ));
    for (ty, g) in grids(cells) {
        out.push_str(&format!(
            "<h2>{}</h2>\n<table><thead><tr><th>principal</th><th>resource</th>",
            esc(ty)
        ));
        for c in &g.columns {
            out.push_str(&format!("<th>{}</th>", esc(c)));
        }
        out.push_str("</tr></thead><tbody>\n");
        for ((p, r), row) in &g.rows {
            let profile = row
                .values()
                .next()
                .and_then(|c| c.profile.as_ref())
                .map(|pr| format!("<br><small class=\"profile\">{}</small>", esc(&pr.label())))
                .unwrap_or_default();
            out.push_str(&format!(
                "<tr><th>{}{profile}</th><th>{}</th>",
                esc(p),
                esc(r)
            ));
            for a in &g.columns {
                match row.get(a) {
                    Some(c) => {
                        let class = if c.allowed {
                            "a"
                        } else if c.failed {
                            "e"
                        } else {
                            "d"
                        };
                        let title = if c.reasons.is_empty() {
                            "no policy applied".to_string()
                        } else {
                            c.reasons.join("\n")
                        };
                        out.push_str(&format!(
                            "<td class=\"{class}\" title=\"{}\">{}</td>",
                            esc(&title),
                            if c.allowed { "✓" } else { "·" }
                        ));
                    }
                    None => out.push_str("<td></td>"),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str(FILTER_SCRIPT);
    out.push_str("</body></html>\n");
    out
}

/// Hides the rows that do not contain the filter text; `#filter=TEXT` in
/// the address sets it (a link to a filtered view).
const FILTER_SCRIPT: &str = "<script>\n\
const box = document.getElementById('filter');\n\
function apply(q) {\n\
  q = q.toLowerCase();\n\
  for (const row of document.querySelectorAll('tbody tr')) {\n\
    row.style.display = row.textContent.toLowerCase().includes(q) ? '' : 'none';\n\
  }\n\
}\n\
box.addEventListener('input', () => apply(box.value));\n\
if (location.hash.startsWith('#filter=')) {\n\
  box.value = decodeURIComponent(location.hash.slice(8));\n\
  apply(box.value);\n\
}\n\
</script>\n";

/// The first line of the CSV.
const CSV_HEADER: &str = "resource_type,principal,action,resource,decision,reasons\n";

/// CSV: one line per cell.
pub fn csv(cells: &[Cell]) -> String {
    let mut out = String::from(CSV_HEADER);
    csv_lines(cells, &mut out);
    out
}

/// One CSV line per cell, every field quoted.
fn csv_lines(cells: &[Cell], out: &mut String) {
    for c in cells {
        csv_row(
            out,
            [&c.resource_type, &c.principal],
            (&c.action, ""),
            &c.resource,
            c.allowed,
            &c.reasons,
        );
    }
}

/// One CSV line: resource type, principal, action (with its context label
/// in brackets when it has one), resource, decision, causes.
fn csv_row(
    out: &mut String,
    [resource_type, principal]: [&str; 2],
    (action, label): (&str, &str),
    resource: &str,
    allowed: bool,
    causes: &[String],
) {
    fn field(out: &mut String, s: &str) {
        if s.contains('"') {
            out.push_str(&s.replace('"', "\"\""));
        } else {
            out.push_str(s);
        }
    }
    out.push('"');
    field(out, resource_type);
    out.push_str("\",\"");
    field(out, principal);
    out.push_str("\",\"");
    field(out, action);
    if !label.is_empty() {
        out.push('[');
        field(out, label);
        out.push(']');
    }
    out.push_str("\",\"");
    field(out, resource);
    out.push_str(if allowed { "\",allow,\"" } else { "\",deny,\"" });
    for (i, c) in causes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        field(out, c);
    }
    out.push_str("\"\n");
}
