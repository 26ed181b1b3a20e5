//! `citadel quickstart`: the whole governed story, offline, in a fresh home, narrated: people and
//! least-privilege grants, a vaulted hub token, a verified base model, a dataset with planted
//! personal data scanned and anonymized, a tracked LoRA run with gates, registration with a
//! model card and ML-BOM, separation of duties, promotion to prod, and the audit log verified.

mod serving;
mod tickets;

use std::path::Path;

use anyhow::Context as _;
use citadel_core::{Effect, FullName, PrincipalKind, Privilege, SecurableKind};
use citadel_hub::client::RepoRef;
use citadel_registry::spec::PipelineSpec;
use citadel_service::{
    Citadel, Context, Decision, GrantRequest, Home, InitOptions, PullOptions, SecurableRef,
    TokenRequest,
};
use secrecy::SecretString;

use super::{output, pipeline, GlobalArgs};

/// The embedded base model: a small Llama pre-trained on support tickets (examples/quickstart-base).
const BASE_FILES: [(&str, &[u8]); 5] = [
    (
        "config.json",
        include_bytes!("../../../../examples/quickstart-base/config.json"),
    ),
    (
        "generation_config.json",
        include_bytes!("../../../../examples/quickstart-base/generation_config.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../../../../examples/quickstart-base/model.safetensors"),
    ),
    (
        "tokenizer.json",
        include_bytes!("../../../../examples/quickstart-base/tokenizer.json"),
    ),
    (
        "tokenizer_config.json",
        include_bytes!("../../../../examples/quickstart-base/tokenizer_config.json"),
    ),
];

/// Writes the embedded base model into a new folder `folder`.
pub(crate) fn write_base(folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(folder)?;
    for (name, bytes) in BASE_FILES {
        std::fs::write(folder.join(name), bytes)?;
    }
    Ok(())
}

/// Arguments of `citadel quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// The base model: the embedded demonstration Llama by default, or a hub repository such as
    /// hf://HuggingFaceTB/SmolLM2-135M-Instruct (needs the network; HF_TOKEN is used if set).
    #[arg(long, value_name = "SOURCE")]
    pub base: Option<String>,
}

/// What happened, for the final table.
struct Story {
    rows: Vec<[String; 3]>,
    step: usize,
}

impl Story {
    fn chapter(&mut self, title: &str) {
        self.step += 1;
        println!("\n── {}. {title}", self.step);
    }

    fn record(&mut self, who: &str, what: impl Into<String>, outcome: impl Into<String>) {
        let (what, outcome) = (what.into(), outcome.into());
        println!("   {who:<6} {what}: {outcome}");
        self.rows.push([who.to_owned(), what, outcome]);
    }
}

/// Runs the quickstart in `--home` (which must not hold a home yet) or a new temporary folder.
pub async fn run(global: &GlobalArgs, args: QuickstartArgs) -> anyhow::Result<()> {
    let root = match &global.home {
        Some(home) => home.clone(),
        None => tempfile::Builder::new()
            .prefix("citadel-quickstart-")
            .tempdir()
            .context("cannot create a folder for the quickstart's home")?
            .keep(),
    };
    let home = Home::at(&root);
    let started = std::time::Instant::now();
    let mut story = Story {
        rows: Vec::new(),
        step: 0,
    };
    story.chapter("A new home: keys, database, audit log, catalogs dev, staging and prod");
    let init = Citadel::init(
        &home,
        InitOptions {
            admin_name: "admin".into(),
        },
    )
    .await?;
    story.record("admin", "citadel init", format!("home {}", root.display()));
    let citadel = Citadel::open(&home).await?;
    let result = tell(&citadel, &init.admin_token, &args, &root, &mut story).await;
    citadel.close().await?;
    result?;
    story.chapter("What happened");
    output::table(["who", "what", "outcome"], story.rows.iter().cloned());
    println!(
        "\nDone in {:.0} s. Explore it (the admin's token is in the home's credentials file):",
        started.elapsed().as_secs_f64()
    );
    let home_flag = format!("--home {}", root.display());
    for command in [
        "model list",
        "model card prod.support.assistant@champion",
        "model bom prod.support.assistant@champion",
        "lineage prod.support.assistant@champion",
        "run list",
        "audit query --limit 20",
    ] {
        println!("  citadel {home_flag} {command}");
    }
    Ok(())
}

async fn tell(
    citadel: &Citadel,
    admin_token: &SecretString,
    args: &QuickstartArgs,
    root: &Path,
    story: &mut Story,
) -> anyhow::Result<()> {
    let admin = citadel.authenticate(Some(admin_token)).await?;
    story.chapter("People, groups and least-privilege grants");
    let people = [
        ("alice", "data_scientists", "data scientist"),
        ("bob", "approvers", "approver"),
        ("carol", "ml_engineers", "ML engineer"),
    ];
    for (name, group, role) in people {
        citadel
            .create_principal(&admin, PrincipalKind::User, name)
            .await?;
        citadel.add_member(&admin, group, name).await?;
        story.record(
            "admin",
            format!("create {name} ({role})"),
            format!("member of {group}"),
        );
    }
    for catalog in ["dev", "staging", "prod"] {
        let schema: FullName = format!("{catalog}.support").parse()?;
        citadel.create_schema(&admin, &schema, None).await?;
    }
    let grants: [(&str, &[Privilege], SecurableKind, &str); 9] = [
        (
            "alice",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "dev",
        ),
        (
            "alice",
            &[
                Privilege::UseSchema,
                Privilege::CreateDataset,
                Privilege::CreateModel,
                Privilege::Select,
                Privilege::Modify,
                Privilege::Approve,
            ],
            SecurableKind::Schema,
            "dev.support",
        ),
        (
            "bob",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "dev",
        ),
        (
            "bob",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "staging",
        ),
        (
            "bob",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "prod",
        ),
        (
            "carol",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "dev",
        ),
        (
            "carol",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "staging",
        ),
        (
            "carol",
            &[Privilege::UseCatalog],
            SecurableKind::Catalog,
            "prod",
        ),
        (
            "carol",
            &[Privilege::UseSchema, Privilege::Select],
            SecurableKind::Schema,
            "dev.support",
        ),
    ];
    for (who, privileges, kind, on) in grants {
        grant(citadel, &admin, who, privileges, kind, on).await?;
    }
    for catalog in ["dev", "staging", "prod"] {
        let on = format!("{catalog}.support");
        grant(
            citadel,
            &admin,
            "bob",
            &[Privilege::UseSchema, Privilege::Approve],
            SecurableKind::Schema,
            &on,
        )
        .await?;
        if catalog != "dev" {
            grant(
                citadel,
                &admin,
                "carol",
                &[
                    Privilege::UseSchema,
                    Privilege::Select,
                    Privilege::CreateModel,
                ],
                SecurableKind::Schema,
                &on,
            )
            .await?;
        }
    }
    story.record(
        "admin",
        "grants",
        "alice: data and training in dev.support (and APPROVE there); bob: APPROVE on *.support; \
         carol: read dev, create models in staging and prod",
    );
    let token = |name: &'static str| {
        let admin = admin.clone();
        async move {
            let (_, secret) = citadel
                .create_token(
                    &admin,
                    TokenRequest {
                        principal: Some(name.to_owned()),
                        ttl: Some(time::Duration::days(1)),
                        scope: citadel_core::TokenScope::Control,
                        name: "quickstart".into(),
                    },
                )
                .await?;
            citadel.authenticate(Some(&secret)).await
        }
    };
    let (alice, bob, carol) = (
        token("alice").await?,
        token("bob").await?,
        token("carol").await?,
    );

    story.chapter("A hub token in the vault");
    let scope: FullName = "dev.support.hub".parse()?;
    citadel.create_secret_scope(&admin, &scope, None).await?;
    let hub_token = std::env::var("HF_TOKEN").ok();
    let value = hub_token
        .clone()
        .unwrap_or_else(|| format!("hf_quickstart_{}", uuid::Uuid::new_v4().simple()));
    citadel
        .put_secret(&admin, &scope, "HF_TOKEN", &SecretString::from(value))
        .await?;
    story.record(
        "admin",
        "secrets put dev.support.hub HF_TOKEN",
        if hub_token.is_some() {
            "your HF_TOKEN, encrypted"
        } else {
            "a placeholder, encrypted"
        },
    );

    story.chapter("The base model: acquired, scanned, signed and verified");
    let base_name: FullName = "dev.support.base".parse()?;
    let acquired = match &args.base {
        Some(source) => {
            let repo = RepoRef::parse(source)?;
            let options = PullOptions {
                token_secret: hub_token.map(|_| "dev.support.hub/HF_TOKEN".to_owned()),
                ..PullOptions::default()
            };
            citadel
                .pull_model(&admin, &repo, &base_name, &options, None)
                .await?
        }
        None => {
            let dir = tempfile::tempdir()?;
            let folder = dir.path().join("quickstart-base");
            write_base(&folder)?;
            citadel
                .import_model(&admin, &folder, &base_name, false, None)
                .await?
        }
    };
    let base_spec = format!("{}@{}", acquired.version.model, acquired.version.version);
    let verified = citadel.verify_model(&admin, &base_spec).await?;
    story.record(
        "admin",
        format!("import {base_spec}"),
        format!(
            "{} files, scan {}, signature {}",
            verified.files_checked,
            acquired.version.scan_verdict,
            if verified.ok() { "verified" } else { "FAILED" }
        ),
    );
    anyhow::ensure!(verified.ok(), "the base model failed verification");

    story.chapter("Support tickets with planted personal data: ingest, scan, anonymize");
    let data_dir = tempfile::tempdir()?;
    let mut cleared = Vec::new();
    for (name, seed, rows) in [("tickets", 11, 320), ("tickets_eval", 12, 48)] {
        let path = data_dir.path().join(format!("{name}.jsonl"));
        write_jsonl(&path, &tickets::generate(seed, rows))?;
        let dataset: FullName = format!("dev.support.{name}").parse()?;
        let v1 = citadel
            .ingest_dataset(&alice, &dataset, &path, None, None)
            .await?;
        let spec = format!("{dataset}@v{}", v1.version);
        let verdict = citadel.scan_dataset(&alice, &spec).await?;
        let found: u64 = verdict.columns.values().flat_map(|m| m.values()).sum();
        story.record(
            "alice",
            format!("ingest + scan {spec}"),
            format!("{found} PII findings in {} rows", v1.rows),
        );
        match citadel.clear_for_training(&alice, &spec).await {
            Err(err) => story.record(
                "alice",
                format!("train on {spec}?"),
                format!("refused: {err}"),
            ),
            Ok(_) => anyhow::bail!("{spec} was cleared for training despite its personal data"),
        }
        let v2 = citadel
            .anonymize_dataset(&alice, &spec, tickets::ANONYMIZE_POLICY)
            .await?;
        let spec = format!("{dataset}@v{}", v2.version);
        citadel.scan_dataset(&alice, &spec).await?;
        citadel.clear_for_training(&alice, &spec).await?;
        story.record(
            "alice",
            format!("anonymize + scan → {spec}"),
            "cleared for training",
        );
        cleared.push(spec);
    }

    story.chapter("Fine-tuning as a tracked run, evaluation and gates, registration");
    let spec = PipelineSpec::parse(&pipeline_toml(
        &base_spec,
        &cleared[0],
        &cleared[1],
        args.base.is_some(),
    ))?;
    let report = pipeline::run_spec(citadel, &alice, &spec, false).await?;
    pipeline::print_report(&report);
    let dev_version = format!("{}@{}", report.version.model, report.version.version);
    story.record(
        "alice",
        format!("pipeline {}", spec.name),
        format!(
            "{dev_version} {} (gates {})",
            report.version.status,
            if report.gates.passed() {
                "passed"
            } else {
                "failed"
            }
        ),
    );
    if !report.gates.passed() {
        println!("   The gates failed, so the version is rejected and can never be deployed.");
        return audit(citadel, &admin, story).await;
    }
    let card = citadel.model_card(&alice, &dev_version).await?;
    let bom = citadel.model_bom(&alice, &dev_version).await?;
    story.record(
        "alice",
        "model card + ML-BOM",
        format!(
            "{} lines of Markdown; CycloneDX {} with {} components",
            card.lines().count(),
            bom["specVersion"].as_str().unwrap_or("?"),
            bom["components"].as_array().map_or(0, Vec::len)
        ),
    );

    story.chapter("Approval with separation of duties");
    match citadel
        .decide_model_version(&alice, &dev_version, Decision::Approve, "looks good to me")
        .await
    {
        Err(err) => story.record(
            "alice",
            format!("approve {dev_version}"),
            format!("refused: {err}"),
        ),
        Ok(_) => anyhow::bail!("alice approved her own version: separation of duties is broken"),
    }
    citadel
        .decide_model_version(
            &bob,
            &dev_version,
            Decision::Approve,
            "gates passed; card reviewed",
        )
        .await?;
    story.record("bob", format!("approve {dev_version}"), "approved");

    story.chapter("Promotion: dev → staging → prod, re-verified at each step");
    let staging = citadel
        .promote_model(&carol, &dev_version, "staging.support.assistant")
        .await?;
    let staging_spec = format!("{}@{}", staging.model, staging.version);
    story.record(
        "carol",
        format!("promote → {staging_spec}"),
        "signature and bytes re-verified",
    );
    match citadel
        .set_model_alias(&carol, &staging_spec, "champion")
        .await
    {
        Err(err) => story.record(
            "carol",
            "champion before approval",
            format!("refused: {err}"),
        ),
        Ok(_) => anyhow::bail!("an unapproved version became champion in staging"),
    }
    citadel
        .decide_model_version(
            &bob,
            &staging_spec,
            Decision::Approve,
            "staging checks passed",
        )
        .await?;
    story.record("bob", format!("approve {staging_spec}"), "approved");
    citadel
        .set_model_alias(&carol, &staging_spec, "champion")
        .await?;
    story.record("carol", format!("champion → {staging_spec}"), "set");
    let prod = citadel
        .promote_model(&carol, &staging_spec, "prod.support.assistant")
        .await?;
    let prod_spec = format!("{}@{}", prod.model, prod.version);
    citadel
        .decide_model_version(&bob, &prod_spec, Decision::Approve, "release approved")
        .await?;
    citadel
        .set_model_alias(&carol, &prod_spec, "champion")
        .await?;
    story.record(
        "carol",
        format!("promote → {prod_spec}, champion"),
        "approved by bob, verified, live",
    );
    println!();
    println!("{}", citadel.lineage(&carol, &prod_spec).await?.render());
    serving::deploy_and_call(citadel, &admin, root, story).await?;
    audit(citadel, &admin, story).await
}

async fn audit(citadel: &Citadel, admin: &Context, story: &mut Story) -> anyhow::Result<()> {
    story.chapter("The audit log");
    let verification = citadel.audit_verify(admin).await?;
    story.record(
        "admin",
        "audit verify",
        format!(
            "{} events and {} signed checkpoints, chain {}",
            verification.events_verified,
            verification.checkpoints_verified,
            if verification.intact {
                "intact"
            } else {
                "BROKEN"
            }
        ),
    );
    anyhow::ensure!(verification.intact, "the audit log failed verification");
    Ok(())
}

async fn grant(
    citadel: &Citadel,
    admin: &Context,
    who: &str,
    privileges: &[Privilege],
    kind: SecurableKind,
    on: &str,
) -> anyhow::Result<()> {
    for privilege in privileges {
        citadel
            .grant(
                admin,
                &GrantRequest {
                    privilege: *privilege,
                    securable: SecurableRef::parse(kind, on)?,
                    principal: who.to_owned(),
                    effect: Effect::Allow,
                },
            )
            .await?;
    }
    Ok(())
}

fn write_jsonl(path: &Path, rows: &[serde_json::Value]) -> anyhow::Result<()> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The quickstart's pipeline: the same file format `citadel pipeline run` reads.
fn pipeline_toml(base: &str, train: &str, eval: &str, real_model: bool) -> String {
    // The embedded model is tiny: adapt every linear layer with a high learning rate. A real
    // model needs a gentler touch on its attention projections.
    let (targets, lr, steps) = if real_model {
        (r#"["q_proj", "v_proj"]"#, "0.001", 30)
    } else {
        (r#"["all-linear"]"#, "0.01", 100)
    };
    format!(
        r#"name = "support-cheerful"

[base]
model = "{base}"

[data]
train = "{train}"
eval = "{eval}"

[train]
lora_r = 8
lora_alpha = 16.0
targets = {targets}
max_steps = {steps}
lr = {lr}
batch = 16
seq_len = 64
warmup_steps = 5
checkpoint_every = 20
keep_checkpoints = 2
seed = 0

[limits]
max_wall_seconds = 900

[register]
model = "dev.support.assistant"
intended_use = "Drafting cheerful first replies to customer support tickets, reviewed by a person before sending."
limitations = ["Trained on generated tickets only", "Knows nothing about real orders or accounts"]
"#
    )
}
