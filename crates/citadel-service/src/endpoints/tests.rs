//! The gateway's side of endpoints on a real home: the per-request check (silent on success,
//! audited on denial), listings for `/v1/models`, the refresh marker, and staging weights that
//! are verified, routed and allowed to serve.

use std::path::{Path, PathBuf};

use citadel_audit::{AuditEvent, Outcome};
use citadel_core::{Effect, FullName, PrincipalKind, Privilege, SecurableKind, TokenScope};

use super::*;
use crate::{GrantRequest, Home, InitOptions, TokenRequest};
use citadel_store::AuditFilter;

struct Fixture {
    dir: tempfile::TempDir,
    citadel: Citadel,
    admin: Context,
}

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../citadel-engine/tests/fixtures/tiny-llama")
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let report = Citadel::init(
        &home,
        InitOptions {
            admin_name: "admin".into(),
        },
    )
    .await
    .unwrap();
    let citadel = Citadel::open(&home).await.unwrap();
    let admin = citadel
        .authenticate(Some(&report.admin_token))
        .await
        .unwrap();
    Fixture {
        dir,
        citadel,
        admin,
    }
}

impl Fixture {
    async fn import(&self, name: &str) {
        let name: FullName = name.parse().unwrap();
        self.citadel
            .import_model(&self.admin, &tiny_model(), &name, false, None)
            .await
            .unwrap();
    }

    /// A user holding an `invoke` token.
    async fn invoker(&self, name: &str) -> Context {
        self.citadel
            .create_principal(&self.admin, PrincipalKind::User, name)
            .await
            .unwrap();
        let (_, secret) = self
            .citadel
            .create_token(
                &self.admin,
                TokenRequest {
                    principal: Some(name.into()),
                    ttl: None,
                    scope: TokenScope::Invoke,
                    name: "test".into(),
                },
            )
            .await
            .unwrap();
        self.citadel.authenticate(Some(&secret)).await.unwrap()
    }

    async fn grant(&self, who: &str, privilege: Privilege, kind: SecurableKind, on: &str) {
        let request = GrantRequest {
            privilege,
            securable: SecurableRef::parse(kind, on).unwrap(),
            principal: who.into(),
            effect: Effect::Allow,
        };
        self.citadel.grant(&self.admin, &request).await.unwrap();
    }

    async fn events(&self, action: &str) -> Vec<AuditEvent> {
        self.citadel
            .store
            .audit_query(&AuditFilter {
                action: Some(action.into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap()
    }

    async fn audit_seq(&self) -> u64 {
        self.citadel.store.audit_head().await.unwrap().seq
    }
}

#[tokio::test]
async fn invocation_checks_execute_quietly_and_audits_denials() {
    let f = fixture().await;
    f.import("dev.models.bot").await;
    let before = f.citadel.endpoints_generation().await.unwrap();
    let name: FullName = "dev.endpoints.bot".parse().unwrap();
    let created = f
        .citadel
        .create_endpoint(
            &f.admin,
            &name,
            "dev.models.bot@1",
            None,
            &EndpointSettings::default(),
        )
        .await
        .unwrap();
    assert!(f.citadel.endpoints_generation().await.unwrap() > before);

    // The owner may invoke; success leaves no audit event (the inference log records calls).
    let seq = f.audit_seq().await;
    let serving = f
        .citadel
        .endpoint_for_invocation(&f.admin, "dev.endpoints.bot")
        .await
        .unwrap();
    assert_eq!(f.audit_seq().await, seq);
    assert_eq!(serving.id, created.id);
    assert_eq!(serving.revision, 1);
    assert_eq!(
        serving.config.traffic,
        vec![TrafficRoute {
            version: 1,
            weight: 100
        }]
    );
    assert_eq!(f.citadel.serving_endpoints().await.unwrap(), vec![serving]);

    // Without EXECUTE: denied and audited, and unknown endpoints look the same.
    let svc = f.invoker("svc").await;
    for name in ["dev.endpoints.bot", "dev.endpoints.nothing"] {
        let err = f
            .citadel
            .endpoint_for_invocation(&svc, name)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied, "{err}");
    }
    let denied = f.events("endpoint.invoke").await;
    assert_eq!(denied.len(), 2);
    assert!(denied
        .iter()
        .all(|e| e.outcome == Outcome::Denied && e.actor_name == "svc"));
    assert!(f
        .citadel
        .invocable_endpoints(&svc)
        .await
        .unwrap()
        .is_empty());

    // With EXECUTE on the endpoint (and the way in), an invoke token passes.
    f.grant("svc", Privilege::UseCatalog, SecurableKind::Catalog, "dev")
        .await;
    f.grant(
        "svc",
        Privilege::UseSchema,
        SecurableKind::Schema,
        "dev.endpoints",
    )
    .await;
    f.grant(
        "svc",
        Privilege::Execute,
        SecurableKind::Endpoint,
        "dev.endpoints.bot",
    )
    .await;
    let seq = f.audit_seq().await;
    let serving = f
        .citadel
        .endpoint_for_invocation(&svc, "dev.endpoints.bot")
        .await
        .unwrap();
    assert_eq!(serving.name, "dev.endpoints.bot");
    assert_eq!(f.audit_seq().await, seq);
    let listed = f.citadel.invocable_endpoints(&svc).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].owner.as_str()),
        ("dev.endpoints.bot", "admin")
    );
    // An invoke token still cannot manage it.
    let err = f.citadel.delete_endpoint(&svc, &name).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied, "{err}");

    // Deleting it moves the marker and empties the gateway's list.
    let before = f.citadel.endpoints_generation().await.unwrap();
    f.citadel.delete_endpoint(&f.admin, &name).await.unwrap();
    assert!(f.citadel.endpoints_generation().await.unwrap() > before);
    assert!(f.citadel.serving_endpoints().await.unwrap().is_empty());
}

#[tokio::test]
async fn staging_writes_verified_routed_versions_and_audits_as_the_system() {
    let f = fixture().await;
    f.import("dev.models.bot").await;
    f.import("dev.models.bot").await;
    let name: FullName = "dev.endpoints.bot".parse().unwrap();
    f.citadel
        .create_endpoint(
            &f.admin,
            &name,
            "dev.models.bot",
            Some(parse_traffic("1=90,2=10").unwrap()),
            &EndpointSettings::default(),
        )
        .await
        .unwrap();
    let serving = f
        .citadel
        .endpoint_for_invocation(&f.admin, "dev.endpoints.bot")
        .await
        .unwrap();

    let dest = f.dir.path().join("slot-2");
    let info = f
        .citadel
        .stage_serving_model(&serving, 2, &dest)
        .await
        .unwrap();
    assert_eq!((info.model.as_str(), info.version), ("dev.models.bot", 2));
    for file in &info.files {
        let bytes = std::fs::read(dest.join(&file.path)).unwrap();
        assert_eq!(bytes.len() as u64, file.size, "{}", file.path);
    }
    assert!(dest.join("config.json").exists());

    // A version the endpoint does not route is refused, and so is a non-empty folder.
    let err = f
        .citadel
        .stage_serving_model(&serving, 3, &f.dir.path().join("slot-3"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not route to version 3"),
        "{err}"
    );
    let err = f
        .citadel
        .stage_serving_model(&serving, 1, &dest)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");

    let loads = f.events("endpoint.load").await;
    let outcomes: Vec<Outcome> = loads.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Success, Outcome::Failed, Outcome::Failed]
    );
    assert!(loads.iter().all(|e| e.actor_name == "system"
        && e.securable.as_deref() == Some("endpoint:dev.endpoints.bot")));
    assert_eq!(loads[0].params["version"], 2);
}

#[tokio::test]
async fn staging_refuses_versions_that_may_not_serve_from_prod() {
    let f = fixture().await;
    f.import("prod.models.bot").await;
    // A configuration the gateway holds while the version is still pending review (as after a
    // hand edit of the database): loading re-checks and refuses it.
    let serving = ServingEndpoint {
        id: SecurableId::new(),
        name: "prod.endpoints.bot".into(),
        revision: 1,
        config: EndpointConfig::new(
            "prod.models.bot".into(),
            vec![TrafficRoute {
                version: 1,
                weight: 100,
            }],
        ),
    };
    let dest = f.dir.path().join("slot");
    let err = f
        .citadel
        .stage_serving_model(&serving, 1, &dest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied, "{err}");
    assert!(
        err.to_string()
            .contains("prod.models.bot@1 is pending_review"),
        "{err}"
    );
    assert!(!dest.exists());
    let loads = f.events("endpoint.load").await;
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].outcome, Outcome::Denied);

    // Creating such an endpoint is refused the same way, and audited.
    let err = f
        .citadel
        .create_endpoint(
            &f.admin,
            &"prod.endpoints.bot".parse().unwrap(),
            "prod.models.bot@1",
            None,
            &EndpointSettings::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("serves only approved versions"),
        "{err}"
    );
    let creates = f.events("endpoint.create").await;
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].outcome, Outcome::Denied);
    assert!(f.citadel.serving_endpoints().await.unwrap().is_empty());
}
