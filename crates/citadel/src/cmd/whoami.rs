//! `citadel whoami`: the principal behind the current token.

use serde_json::json;

use super::{output, session, GlobalArgs};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<()> {
    session::with_context(global, |_, ctx| async move {
        let groups = ctx.group_names.join(", ");
        if global.json {
            return output::json(&json!({
                "id": ctx.principal.id,
                "name": ctx.principal.name,
                "kind": ctx.principal.kind,
                "groups": ctx.group_names,
                "token": ctx.token,
            }));
        }
        let mut rows = vec![
            ["name".to_owned(), ctx.principal.name.clone()],
            ["kind".to_owned(), ctx.principal.kind.to_string()],
            ["id".to_owned(), ctx.principal.id.to_string()],
            [
                "groups".to_owned(),
                if groups.is_empty() {
                    "-".to_owned()
                } else {
                    groups
                },
            ],
        ];
        if let Some(token) = &ctx.token {
            rows.push(["token".to_owned(), format!("{} ({})", token.id, token.name)]);
            rows.push(["scope".to_owned(), token.scope.to_string()]);
            rows.push(["expires".to_owned(), output::time(token.expires_at)]);
        }
        output::table(["", ""], rows);
        Ok(())
    })
    .await
}
