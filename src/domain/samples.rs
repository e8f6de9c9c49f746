//! Sample contexts for actions that need one, so the permission matrix and
//! policy diffs can ask every action of every principal.

use cedar_policy::EntityUid;
use serde_json::{json, Value};

use super::{actions, types};

/// Menu items of `viewMenuItem` (AW14, TC5).
pub const MENU_ITEMS: [&str; 9] = [
    "mywork",
    "projects",
    "tasks",
    "times",
    "calendar",
    "users",
    "customers",
    "reports",
    "settings",
];
/// Fields of `viewProjectField` (GS1).
pub const PROJECT_FIELDS: [&str; 5] = ["tasks", "dueDate", "stage", "percentHours", "percentTasks"];

fn entity_ref(uid: &EntityUid) -> Value {
    json!({ "__entity": { "type": uid.type_name().to_string(), "id": uid.id().unescaped() } })
}

/// Sample contexts for `action` asked by `principal`, each with a short
/// label (`field=stage`): one `{}` labelled `""` for actions without
/// required context keys.
pub fn contexts(action: &str, principal: &EntityUid) -> Vec<(String, Value)> {
    match action {
        actions::LOG_TIME => vec![(
            "forUser=self".into(),
            json!({ "forUser": entity_ref(principal) }),
        )],
        actions::VIEW_PROJECT_FIELD => PROJECT_FIELDS
            .iter()
            .map(|f| (format!("field={f}"), json!({ "field": f })))
            .collect(),
        actions::INVITE_EXTERNAL => vec![(
            "inviteeEmail=new@partner.example".into(),
            json!({ "inviteeEmail": "new@partner.example" }),
        )],
        actions::CHANGE_USER_ROLE => vec![(
            "newRole=user".into(),
            json!({ "newRole": { "__entity": { "type": types::ROLE, "id": "user" } } }),
        )],
        actions::VIEW_MENU_ITEM => MENU_ITEMS
            .iter()
            .map(|i| (format!("item={i}"), json!({ "item": i })))
            .collect(),
        _ => vec![(String::new(), json!({}))],
    }
}
