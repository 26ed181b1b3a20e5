//! Chat templates: the Jinja template of `tokenizer_config.json` (or `chat_template.jinja`)
//! rendered with `minijinja`, with the Python string and dict methods templates commonly call.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, ErrorKind, State};

use crate::error::{Error, Result};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the message.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles a Jinja chat template.
    pub fn new(source: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(python_method);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| Error::Template(e.to_string()))?;
        Ok(Self { env })
    }

    /// Renders a conversation; `add_generation_prompt` opens the assistant's turn.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<String> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| Error::Template(e.to_string()))?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => bos_token,
                eos_token => eos_token,
            })
            .map_err(|e| Error::Template(e.to_string()))
    }
}

/// The Python methods Hugging Face chat templates call on strings and dicts.
fn python_method(
    _: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, minijinja::Error> {
    let arg = |i: usize| args.get(i).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(s) = value.as_str() {
        let chars = arg(0);
        let trim: &dyn Fn(char) -> bool = &|c: char| match &chars {
            Some(set) => set.contains(c),
            None => c.is_whitespace(),
        };
        return Ok(match method {
            "strip" => Value::from(s.trim_matches(trim)),
            "lstrip" => Value::from(s.trim_start_matches(trim)),
            "rstrip" => Value::from(s.trim_end_matches(trim)),
            "upper" => Value::from(s.to_uppercase()),
            "lower" => Value::from(s.to_lowercase()),
            "startswith" => Value::from(arg(0).is_some_and(|p| s.starts_with(&p))),
            "endswith" => Value::from(arg(0).is_some_and(|p| s.ends_with(&p))),
            "replace" => match (arg(0), arg(1)) {
                (Some(from), Some(to)) => Value::from(s.replace(&from, &to)),
                _ => {
                    return Err(minijinja::Error::new(
                        ErrorKind::MissingArgument,
                        "replace(old, new)",
                    ))
                }
            },
            "split" => match arg(0) {
                Some(sep) => {
                    Value::from(s.split(sep.as_str()).map(Value::from).collect::<Vec<_>>())
                }
                None => Value::from(s.split_whitespace().map(Value::from).collect::<Vec<_>>()),
            },
            _ => {
                return Err(minijinja::Error::new(
                    ErrorKind::UnknownMethod,
                    format!("str.{method}"),
                ))
            }
        });
    }
    if value.kind() == ValueKind::Map {
        let entries = || value.try_iter().into_iter().flatten();
        return Ok(match method {
            "items" => Value::from(
                entries()
                    .map(|k| Value::from(vec![k.clone(), value.get_item(&k).unwrap_or_default()]))
                    .collect::<Vec<_>>(),
            ),
            "keys" => Value::from(entries().collect::<Vec<_>>()),
            "values" => Value::from(
                entries()
                    .map(|k| value.get_item(&k).unwrap_or_default())
                    .collect::<Vec<_>>(),
            ),
            "get" => {
                let key = args.first().cloned().unwrap_or_default();
                match value.get_item(&key) {
                    Ok(v) if !v.is_undefined() => v,
                    _ => args.get(1).cloned().unwrap_or(Value::from(())),
                }
            }
            _ => {
                return Err(minijinja::Error::new(
                    ErrorKind::UnknownMethod,
                    format!("dict.{method}"),
                ))
            }
        });
    }
    Err(minijinja::Error::new(
        ErrorKind::UnknownMethod,
        method.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_chatml_template_with_python_methods() {
        let source = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'].strip() }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let t = ChatTemplate::new(source).unwrap();
        let text = t
            .render(&[ChatMessage::new("user", "  hi  ")], true, "", "")
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_becomes_an_error() {
        let t = ChatTemplate::new("{{ raise_exception('roles must alternate') }}").unwrap();
        let err = t.render(&[], false, "", "").unwrap_err();
        assert!(err.to_string().contains("roles must alternate"));
    }
}
