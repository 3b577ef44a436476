//! Screens, permissions and roles: which screens exist, which are built, and what each role may
//! see and do. The navigation bar and every handler ask this module, so a role's reach is
//! written down once. Adding a screen: add a [`Screen`] variant, give it a permission, a path
//! and a label, route it in `lib.rs`, and mark it built.
//!
//! Who may do what (the operator side, as of the sessions, settlement and partner screens):
//!
//! | Permission          | admin | reviewer | operations | finance |
//! |---------------------|:-----:|:--------:|:----------:|:-------:|
//! | view network        |   ✓   |    ✓     |     ✓      |    ✓    |
//! | manage network      |   ✓   |          |     ✓      |         |
//! | review applications |   ✓   |    ✓     |            |         |
//! | view partners       |   ✓   |    ✓     |     ✓      |         |
//! | suspend / resume    |   ✓   |    ✓     |            |         |
//! | retry deliveries    |   ✓   |          |     ✓      |         |
//! | sessions and CDRs   |   ✓   |          |     ✓      |    ✓    |
//! | statements, credits |   ✓   |          |            |    ✓    |
//! | audit log           |   ✓   |          |            |         |
//!
//! Suspension follows the admin API (reviewers decide who is a partner); retrying a webhook
//! delivery is day-to-day operations; money (statements, credit CDRs) is finance's, as in the
//! admin API's settlement routes.

use openpile_core::operator::OperatorRole;

use crate::i18n::Messages;

/// What an operator may see or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permission {
    /// Dashboard, stations, chargers, connectors (everyone).
    ViewNetwork,
    /// Remote commands, OCPP passwords, tariff versions (admin, operations; as in the admin
    /// API, `OperatorRole::manages_network`).
    ManageNetwork,
    /// Partner applications: read, approve, reject (admin, reviewer).
    ReviewPartners,
    /// Partners, their contracts and deliveries (admin, reviewer, operations).
    ViewPartners,
    /// Suspend and resume partners (admin, reviewer; as the admin API).
    ManagePartners,
    /// Queue a webhook delivery again (admin, operations).
    RetryDeliveries,
    /// Sessions and CDRs (admin, operations, finance).
    ViewSessions,
    /// Statements and settlement (admin, finance).
    ManageStatements,
    /// The audit trail (admin; as in the admin API).
    ViewAudit,
}

pub(crate) fn allows(role: OperatorRole, p: Permission) -> bool {
    use OperatorRole::{Admin, Finance, Operations, Reviewer};
    match p {
        Permission::ViewNetwork => true,
        Permission::ManageNetwork => role.manages_network(),
        Permission::ReviewPartners => matches!(role, Admin | Reviewer),
        Permission::ViewPartners => matches!(role, Admin | Reviewer | Operations),
        Permission::ManagePartners => matches!(role, Admin | Reviewer),
        Permission::RetryDeliveries => matches!(role, Admin | Operations),
        Permission::ViewSessions => matches!(role, Admin | Operations | Finance),
        Permission::ManageStatements => matches!(role, Admin | Finance),
        Permission::ViewAudit => role == Admin,
    }
}

/// The console's screens, in navigation order, including those whose capability has not
/// landed yet (they stay out of the navigation until `built`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    Dashboard,
    Stations,
    Tariffs,
    Applications,
    Partners,
    Sessions,
    Cdrs,
    Statements,
    Audit,
}

impl Screen {
    pub(crate) const ALL: [Screen; 9] = [
        Self::Dashboard,
        Self::Stations,
        Self::Tariffs,
        Self::Applications,
        Self::Partners,
        Self::Sessions,
        Self::Cdrs,
        Self::Statements,
        Self::Audit,
    ];

    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Dashboard => "/console",
            Self::Stations => "/console/stations",
            Self::Tariffs => "/console/tariffs",
            Self::Applications => "/console/applications",
            Self::Partners => "/console/partners",
            Self::Sessions => "/console/sessions",
            Self::Cdrs => "/console/cdrs",
            Self::Statements => "/console/statements",
            Self::Audit => "/console/audit",
        }
    }

    pub(crate) fn label(self, t: &'static Messages) -> &'static str {
        match self {
            Self::Dashboard => t.nav_dashboard,
            Self::Stations => t.nav_stations,
            Self::Tariffs => t.nav_tariffs,
            Self::Applications => t.nav_applications,
            Self::Partners => t.nav_partners,
            Self::Sessions => t.nav_sessions,
            Self::Cdrs => t.nav_cdrs,
            Self::Statements => t.nav_statements,
            Self::Audit => t.nav_audit,
        }
    }

    pub(crate) fn permission(self) -> Permission {
        match self {
            Self::Dashboard | Self::Stations | Self::Tariffs => Permission::ViewNetwork,
            Self::Applications => Permission::ReviewPartners,
            Self::Partners => Permission::ViewPartners,
            Self::Sessions | Self::Cdrs => Permission::ViewSessions,
            Self::Statements => Permission::ManageStatements,
            Self::Audit => Permission::ViewAudit,
        }
    }

    /// Whether the screen exists. Applications, partners, sessions, CDRs and statements need
    /// the partner services (`partners`: the server passed them in; it passes the charging and
    /// settlement services and the operator views with them).
    pub(crate) fn built(self, partners: bool) -> bool {
        match self {
            Self::Applications
            | Self::Partners
            | Self::Sessions
            | Self::Cdrs
            | Self::Statements => partners,
            Self::Dashboard | Self::Stations | Self::Tariffs | Self::Audit => true,
        }
    }
}

/// One link of the navigation bar.
#[derive(Debug, Clone)]
pub(crate) struct NavLink {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
    pub(crate) current: bool,
}

/// The links `role` sees, `current` marking the screen being shown.
pub(crate) fn links(
    role: OperatorRole,
    partners: bool,
    current: Option<Screen>,
    t: &'static Messages,
) -> Vec<NavLink> {
    Screen::ALL
        .into_iter()
        .filter(|s| s.built(partners) && allows(role, s.permission()))
        .map(|s| NavLink {
            href: s.path(),
            label: s.label(t),
            current: Some(s) == current,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::EN;

    #[test]
    fn each_role_sees_its_screens() {
        let hrefs = |r| {
            links(r, false, None, &EN)
                .into_iter()
                .map(|l| l.href)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hrefs(OperatorRole::Admin),
            [
                "/console",
                "/console/stations",
                "/console/tariffs",
                "/console/audit"
            ]
        );
        for r in [
            OperatorRole::Reviewer,
            OperatorRole::Operations,
            OperatorRole::Finance,
        ] {
            assert_eq!(
                hrefs(r),
                ["/console", "/console/stations", "/console/tariffs"],
                "{r:?}"
            );
        }
    }

    #[test]
    fn reviewers_see_applications_once_partners_are_on() {
        let hrefs: Vec<_> = links(OperatorRole::Reviewer, true, None, &EN)
            .into_iter()
            .map(|l| l.href)
            .collect();
        assert!(hrefs.contains(&"/console/applications"));
        let ops: Vec<_> = links(OperatorRole::Operations, true, None, &EN)
            .into_iter()
            .map(|l| l.href)
            .collect();
        assert!(!ops.contains(&"/console/applications"));
    }

    #[test]
    fn each_role_sees_its_operator_screens_once_services_are_on() {
        let hrefs = |r| {
            links(r, true, None, &EN)
                .into_iter()
                .map(|l| l.href)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hrefs(OperatorRole::Admin),
            [
                "/console",
                "/console/stations",
                "/console/tariffs",
                "/console/applications",
                "/console/partners",
                "/console/sessions",
                "/console/cdrs",
                "/console/statements",
                "/console/audit"
            ]
        );
        assert_eq!(
            hrefs(OperatorRole::Finance),
            [
                "/console",
                "/console/stations",
                "/console/tariffs",
                "/console/sessions",
                "/console/cdrs",
                "/console/statements"
            ]
        );
        assert!(!hrefs(OperatorRole::Operations).contains(&"/console/statements"));
        assert!(hrefs(OperatorRole::Operations).contains(&"/console/partners"));
        assert!(!hrefs(OperatorRole::Reviewer).contains(&"/console/sessions"));
    }

    #[test]
    fn partner_actions_follow_the_table() {
        use OperatorRole::{Admin, Finance, Operations, Reviewer};
        let who = |p| {
            OperatorRole::ALL
                .into_iter()
                .filter(|r| allows(*r, p))
                .collect::<Vec<_>>()
        };
        assert_eq!(who(Permission::ManagePartners), [Admin, Reviewer]);
        assert_eq!(who(Permission::RetryDeliveries), [Admin, Operations]);
        assert_eq!(who(Permission::ManageStatements), [Admin, Finance]);
        assert_eq!(who(Permission::ViewSessions), [Admin, Operations, Finance]);
    }

    #[test]
    fn only_network_managers_act_on_the_network() {
        assert!(allows(OperatorRole::Operations, Permission::ManageNetwork));
        assert!(!allows(OperatorRole::Reviewer, Permission::ManageNetwork));
        assert!(!allows(OperatorRole::Finance, Permission::ManageNetwork));
        assert!(!allows(OperatorRole::Operations, Permission::ViewAudit));
        assert!(allows(OperatorRole::Reviewer, Permission::ReviewPartners));
    }
}
