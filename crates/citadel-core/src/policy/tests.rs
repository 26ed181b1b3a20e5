//! Table-driven tests of the decision function: inheritance, groups, ownership, DENY, scopes,
//! usage gates and unknown securables.

use super::*;
use Effect::{Allow as A, Deny as D};
use Privilege::*;

const ALICE: u128 = 1;
const BOB: u128 = 2;
const ADMIN: u128 = 3;
/// A group alice belongs to directly.
const DATA_SCIENTISTS: u128 = 10;
/// A group that contains `DATA_SCIENTISTS`, so alice through nesting.
const EVERYONE: u128 = 11;
const ADMINS: u128 = 12;

const M: usize = 0;
const C: usize = 1;
const S: usize = 2;
const O: usize = 3;

fn pid(n: u128) -> PrincipalId {
    PrincipalId::from_uuid(uuid::Uuid::from_u128(n))
}

#[derive(Clone, Copy)]
enum Who {
    Alice,
    AliceInvoke,
    Bob,
    Admin,
    AdminInvoke,
    AdminMetrics,
}

fn subject(who: Who) -> Subject {
    let (principal, groups, scope) = match who {
        Who::Alice => (ALICE, vec![DATA_SCIENTISTS, EVERYONE], TokenScope::Control),
        Who::AliceInvoke => (ALICE, vec![DATA_SCIENTISTS, EVERYONE], TokenScope::Invoke),
        Who::Bob => (BOB, vec![], TokenScope::Control),
        Who::Admin => (ADMIN, vec![ADMINS], TokenScope::Control),
        Who::AdminInvoke => (ADMIN, vec![ADMINS], TokenScope::Invoke),
        Who::AdminMetrics => (ADMIN, vec![ADMINS], TokenScope::Metrics),
    };
    Subject {
        principal: pid(principal),
        groups: groups.into_iter().map(pid).collect(),
        scope,
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Allow,
    Unknown,
    Scope,
    Explicit(Privilege, &'static str),
    NoGrant(Privilege, &'static str),
}

struct Case {
    name: &'static str,
    who: Who,
    privilege: Privilege,
    /// Depth of the target in `metastore ▸ dev ▸ dev.models ▸ dev.models.bot`; `None` = unknown.
    target: Option<usize>,
    /// Adds USE_CATALOG and USE_SCHEMA on `dev` for data_scientists.
    usage: bool,
    grants: &'static [(usize, u128, Privilege, Effect)],
    owner: Option<(usize, u128)>,
    expect: Expect,
}

const fn case(
    name: &'static str,
    who: Who,
    privilege: Privilege,
    target: usize,
    usage: bool,
    grants: &'static [(usize, u128, Privilege, Effect)],
    expect: Expect,
) -> Case {
    Case {
        name,
        who,
        privilege,
        target: Some(target),
        usage,
        grants,
        owner: None,
        expect,
    }
}

const fn owned(mut c: Case, level: usize, owner: u128) -> Case {
    c.owner = Some((level, owner));
    c
}

const fn unknown(mut c: Case) -> Case {
    c.target = None;
    c
}

fn chain(c: &Case) -> Vec<Node> {
    let levels = [
        (SecurableKind::Metastore, "metastore"),
        (SecurableKind::Catalog, "dev"),
        (SecurableKind::Schema, "dev.models"),
        (SecurableKind::Model, "dev.models.bot"),
    ];
    let mut nodes: Vec<Node> = levels
        .iter()
        .enumerate()
        .map(|(i, (kind, name))| Node {
            id: SecurableId::from_uuid(uuid::Uuid::from_u128(100 + i as u128)),
            kind: *kind,
            name: (*name).to_owned(),
            owner: c
                .owner
                .and_then(|(level, who)| (level == i).then(|| pid(who))),
            grants: Vec::new(),
        })
        .collect();
    if c.usage {
        for p in [UseCatalog, UseSchema] {
            nodes[C].grants.push(GrantEntry {
                principal: pid(DATA_SCIENTISTS),
                privilege: p,
                effect: A,
            });
        }
    }
    for &(level, who, privilege, effect) in c.grants {
        nodes[level].grants.push(GrantEntry {
            principal: pid(who),
            privilege,
            effect,
        });
    }
    nodes.truncate(c.target.map_or(0, |t| t + 1));
    nodes
}

fn observed(decision: Decision) -> Expect {
    match decision {
        Decision::Allow => Expect::Allow,
        Decision::Deny(DenyReason::UnknownSecurable) => Expect::Unknown,
        Decision::Deny(DenyReason::ScopeForbids { .. }) => Expect::Scope,
        Decision::Deny(DenyReason::ExplicitDeny { privilege, at }) => {
            Expect::Explicit(privilege, leak(at))
        }
        Decision::Deny(DenyReason::NoGrant { privilege, at }) => {
            Expect::NoGrant(privilege, leak(at))
        }
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

use Expect::{Allow as Ok_, Explicit, NoGrant, Scope};
use Who::*;

const BOT: &str = "dev.models.bot";

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // Plain grants and inheritance catalog ▸ schema ▸ object.
        case("nothing granted", Alice, Select, O, true, &[], NoGrant(Select, BOT)),
        case("direct grant on the object", Alice, Select, O, true, &[(O, ALICE, Select, A)], Ok_),
        case("inherited from the schema", Alice, Select, O, true, &[(S, ALICE, Select, A)], Ok_),
        case("inherited from the catalog", Alice, Select, O, true, &[(C, ALICE, Select, A)], Ok_),
        case("inherited from the metastore", Alice, Select, O, true, &[(M, ALICE, Select, A)], Ok_),
        case("grant to a group", Alice, Select, O, true, &[(O, DATA_SCIENTISTS, Select, A)], Ok_),
        case("grant to a nested group", Alice, Select, O, true, &[(O, EVERYONE, Select, A)], Ok_),
        case("grant to someone else", Alice, Select, O, true, &[(O, BOB, Select, A)], NoGrant(Select, BOT)),
        case("group grant for a non-member", Bob, Select, O, true, &[(O, DATA_SCIENTISTS, Select, A)], NoGrant(Select, BOT)),
        case("other privilege granted", Alice, Execute, O, true, &[(O, ALICE, Approve, A)], NoGrant(Execute, BOT)),
        case("control token may execute", Alice, Execute, O, true, &[(O, ALICE, Execute, A)], Ok_),
        // Usage gates.
        case("no USE_CATALOG", Alice, Select, O, false, &[(O, ALICE, Select, A)], NoGrant(UseCatalog, "dev")),
        case("no USE_SCHEMA", Alice, Select, O, false, &[(O, ALICE, Select, A), (C, ALICE, UseCatalog, A)], NoGrant(UseSchema, "dev.models")),
        case("usage granted on the schema itself", Alice, Select, O, false, &[(O, ALICE, Select, A), (C, ALICE, UseCatalog, A), (S, ALICE, UseSchema, A)], Ok_),
        // DENY beats allow at any level and through any group.
        case("deny on the object", Alice, Select, O, true, &[(O, ALICE, Select, A), (O, ALICE, Select, D)], Explicit(Select, BOT)),
        case("deny on the schema beats catalog allow", Alice, Select, O, true, &[(C, ALICE, Select, A), (S, ALICE, Select, D)], Explicit(Select, "dev.models")),
        case("deny on the metastore beats object allow", Alice, Select, O, true, &[(O, ALICE, Select, A), (M, DATA_SCIENTISTS, Select, D)], Explicit(Select, "metastore")),
        case("group deny beats user allow", Alice, Select, O, true, &[(O, ALICE, Select, A), (C, EVERYONE, Select, D)], Explicit(Select, "dev")),
        case("deny to someone else is irrelevant", Alice, Select, O, true, &[(O, ALICE, Select, A), (O, BOB, Select, D)], Ok_),
        case("deny of another privilege is irrelevant", Alice, Select, O, true, &[(O, ALICE, Select, A), (O, ALICE, Modify, D)], Ok_),
        case("deny of USE_CATALOG blocks everything inside", Alice, Select, O, true, &[(O, ALICE, Select, A), (C, ALICE, UseCatalog, D)], Explicit(UseCatalog, "dev")),
        case("deny beats MANAGE", Alice, Modify, O, true, &[(S, ALICE, Manage, A), (O, ALICE, Modify, D)], Explicit(Modify, BOT)),
        // Ownership and MANAGE.
        owned(case("owner may select", Alice, Select, O, true, &[], Ok_), O, ALICE),
        owned(case("owner may manage", Alice, Manage, O, true, &[], Ok_), O, ALICE),
        owned(case("owner still needs usage", Alice, Select, O, false, &[], NoGrant(UseCatalog, "dev")), O, ALICE),
        owned(case("catalog owner reaches everything inside", Alice, Select, O, false, &[], Ok_), C, ALICE),
        owned(case("group ownership", Alice, Manage, O, true, &[], Ok_), O, DATA_SCIENTISTS),
        owned(case("deny beats ownership", Alice, Select, O, true, &[(O, ALICE, Select, D)], Explicit(Select, BOT)), O, ALICE),
        owned(case("denied MANAGE removes the owner's implied rights", Alice, Select, O, true, &[(O, ALICE, Manage, D)], NoGrant(Select, BOT)), O, ALICE),
        owned(case("ownership of another level below does not climb", Alice, Select, S, true, &[], NoGrant(Select, "dev.models")), O, ALICE),
        case("MANAGE on the schema implies MODIFY", Alice, Modify, O, true, &[(S, ALICE, Manage, A)], Ok_),
        case("admin MANAGE on the metastore", Admin, Approve, O, false, &[(M, ADMINS, Manage, A)], Ok_),
        case("admin denied USE_CATALOG", Admin, Select, O, false, &[(M, ADMINS, Manage, A), (C, ADMINS, UseCatalog, D)], Explicit(UseCatalog, "dev")),
        case("admin denied SELECT", Admin, Select, O, false, &[(M, ADMINS, Manage, A), (O, ADMIN, Select, D)], Explicit(Select, BOT)),
        // Token scope: invoke never passes a control action.
        case("invoke token executes", AliceInvoke, Execute, O, true, &[(O, ALICE, Execute, A)], Ok_),
        case("invoke token cannot select", AliceInvoke, Select, O, true, &[(O, ALICE, Select, A)], Scope),
        case("invoke token cannot modify", AliceInvoke, Modify, O, true, &[(M, ALICE, Manage, A)], Scope),
        owned(case("invoke token cannot manage what it owns", AliceInvoke, Manage, O, true, &[], Scope), O, ALICE),
        case("invoke token of an admin cannot approve", AdminInvoke, Approve, O, false, &[(M, ADMINS, Manage, A)], Scope),
        case("metrics token of an admin cannot execute", AdminMetrics, Execute, O, false, &[(M, ADMINS, Manage, A)], Scope),
        case("metrics token of an admin cannot read", AdminMetrics, Select, O, false, &[(M, ADMINS, Manage, A)], Scope),
        case("invoke token still needs usage", AliceInvoke, Execute, O, false, &[(O, ALICE, Execute, A)], NoGrant(UseCatalog, "dev")),
        // Unknown securables.
        unknown(case("unknown securable", Alice, Select, O, true, &[], Expect::Unknown)),
        unknown(case("unknown securable for an admin", Admin, Select, O, false, &[(M, ADMINS, Manage, A)], Expect::Unknown)),
        // Containers as targets.
        case("USE_CATALOG on a catalog", Alice, UseCatalog, C, false, &[(C, ALICE, UseCatalog, A)], Ok_),
        case("CREATE_SCHEMA with usage", Alice, CreateSchema, C, true, &[(C, ALICE, CreateSchema, A)], Ok_),
        case("CREATE_SCHEMA without usage", Alice, CreateSchema, C, false, &[(C, ALICE, CreateSchema, A)], NoGrant(UseCatalog, "dev")),
        case("CREATE_MODEL on the schema", Alice, CreateModel, S, true, &[(S, ALICE, CreateModel, A)], Ok_),
        case("CREATE_MODEL inherited from the catalog", Alice, CreateModel, S, true, &[(C, DATA_SCIENTISTS, CreateModel, A)], Ok_),
        case("CREATE_CATALOG on the metastore", Alice, CreateCatalog, M, false, &[(M, ALICE, CreateCatalog, A)], Ok_),
        case("CREATE_CATALOG not granted", Bob, CreateCatalog, M, false, &[], NoGrant(CreateCatalog, "metastore")),
    ]
}

#[test]
fn decision_table() {
    let cases = cases();
    assert!(cases.len() >= 40, "the issue asks for at least 40 cases");
    let mut failures = Vec::new();
    for c in &cases {
        let nodes = chain(c);
        let chain = c.target.map(|_| nodes.as_slice());
        let got = observed(decide(&subject(c.who), c.privilege, chain));
        if got != c.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                c.name, c.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn empty_chain_is_unknown() {
    assert_eq!(
        decide(&subject(Alice), Select, Some(&[])),
        Decision::Deny(DenyReason::UnknownSecurable)
    );
}
