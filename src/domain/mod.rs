//! The workspace vocabulary (`../shared/vocabulary.md`): entity types,
//! actions, licenses, the context teamgate derives before Cedar sees a
//! request, the integrity rules of entity data, and sample contexts for the
//! permission matrix. Everything else in teamgate is generic Cedar.

pub mod context;
pub mod directory;
pub mod email;
pub mod integrity;
pub mod samples;

/// Entity type names.
pub mod types {
    /// A person: `User::"erin"`.
    pub const USER: &str = "User";
    /// A workspace (a company's account).
    pub const WORKSPACE: &str = "Workspace";
    /// A project of a workspace.
    pub const PROJECT: &str = "Project";
    /// A task, in a project or private.
    pub const TASK: &str = "Task";
    /// A time entry.
    pub const TIME_ENTRY: &str = "TimeEntry";
    /// A workspace role (AW1).
    pub const ROLE: &str = "Role";
    /// A project role (PR1).
    pub const PROJECT_ROLE: &str = "ProjectRole";
    /// Actions.
    pub const ACTION: &str = "Action";
}

/// Action names that teamgate treats specially.
pub mod actions {
    /// Inviting an external user: `inviteeDomain` is derived from `inviteeEmail`.
    pub const INVITE_EXTERNAL: &str = "inviteExternal";
    /// Logging time, for oneself or another user (`forUser`).
    pub const LOG_TIME: &str = "logTime";
    /// Seeing one field of a shared project (`field`).
    pub const VIEW_PROJECT_FIELD: &str = "viewProjectField";
    /// Changing a user's workspace role (`newRole`).
    pub const CHANGE_USER_ROLE: &str = "changeUserRole";
    /// Seeing a menu item (`item`).
    pub const VIEW_MENU_ITEM: &str = "viewMenuItem";
}

/// Licenses a user can hold (TC1).
pub const LICENSES: [&str; 4] = ["full", "guest", "collaborator", "client"];

/// Policy files of the pack that entity data must agree with: every role
/// named in the data has its file, and system roles are pinned (AW2, AW3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleFiles {
    /// Ids `x` of files `policies/roles/x.cedar` (workspace roles, AW3).
    pub roles: std::collections::BTreeSet<String>,
    /// Ids `x` of files `policies/project-roles/x.cedar` (project roles).
    pub project_roles: std::collections::BTreeSet<String>,
    /// Role ids whose file is pinned in `system-roles.lock` (AW2).
    pub system_roles: std::collections::BTreeSet<String>,
}
