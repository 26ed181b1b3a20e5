//! Schema inference: the top-level columns seen across rows, their widened types and nullability.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DataError, Result};
use crate::format::Row;

/// The most distinct top-level fields a schema may hold.
pub const MAX_COLUMNS: usize = 4096;

/// A column's inferred type. Serialized in `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// Only nulls (or absent) so far.
    Null,
    /// `true` / `false`.
    Boolean,
    /// Integers that fit in 64 bits.
    Integer,
    /// Numbers with a fraction or exponent (or integers mixed with them).
    Float,
    /// Text.
    String,
    /// JSON arrays.
    Array,
    /// JSON objects (nested fields are not typed further).
    Object,
    /// Values of incompatible types.
    Mixed,
}

impl DataType {
    /// The type of one non-null value.
    pub fn of(value: &Value) -> DataType {
        match value {
            Value::Null => DataType::Null,
            Value::Bool(_) => DataType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => DataType::Integer,
            Value::Number(_) => DataType::Float,
            Value::String(_) => DataType::String,
            Value::Array(_) => DataType::Array,
            Value::Object(_) => DataType::Object,
        }
    }

    /// The narrowest type holding both: Null gives way to anything, Integer and Float widen to
    /// Float, equal types stay, and anything else is Mixed.
    pub fn widen(self, other: DataType) -> DataType {
        match (self, other) {
            (a, b) if a == b => a,
            (DataType::Null, t) | (t, DataType::Null) => t,
            (DataType::Integer, DataType::Float) | (DataType::Float, DataType::Integer) => {
                DataType::Float
            }
            _ => DataType::Mixed,
        }
    }
}

/// One inferred column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// The top-level field name.
    pub name: String,
    /// The widened type of its non-null values ([`DataType::Null`] if it never had one).
    pub data_type: DataType,
    /// Whether some row held null or lacked the field.
    pub nullable: bool,
}

/// The inferred schema of a set of rows, columns in first-seen order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The columns.
    pub columns: Vec<Column>,
}

impl Schema {
    /// The column of that name, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug)]
struct Seen {
    name: String,
    data_type: DataType,
    saw_null: bool,
    present_in: u64,
}

/// Accumulates a [`Schema`] one row at a time, in memory proportional to the number of columns.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    columns: Vec<Seen>,
    index: HashMap<String, usize>,
    rows: u64,
}

impl SchemaBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        SchemaBuilder::default()
    }

    /// Takes one row into account. Fails once the rows hold more than [`MAX_COLUMNS`] fields.
    pub fn observe(&mut self, row: &Row) -> Result<()> {
        self.rows += 1;
        for (name, value) in row {
            let at = match self.index.get(name) {
                Some(&at) => at,
                None => {
                    if self.columns.len() >= MAX_COLUMNS {
                        return Err(DataError::TooManyColumns {
                            row: self.rows,
                            limit: MAX_COLUMNS,
                        });
                    }
                    self.index.insert(name.clone(), self.columns.len());
                    self.columns.push(Seen {
                        name: name.clone(),
                        data_type: DataType::Null,
                        saw_null: false,
                        present_in: 0,
                    });
                    self.columns.len() - 1
                }
            };
            let seen = &mut self.columns[at];
            seen.present_in += 1;
            if value.is_null() {
                seen.saw_null = true;
            } else {
                seen.data_type = seen.data_type.widen(DataType::of(value));
            }
        }
        Ok(())
    }

    /// The rows observed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The schema of every row observed.
    pub fn finish(self) -> Schema {
        let rows = self.rows;
        Schema {
            columns: self
                .columns
                .into_iter()
                .map(|seen| Column {
                    name: seen.name,
                    data_type: seen.data_type,
                    nullable: seen.saw_null || seen.present_in < rows,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn infer(rows: &[Value]) -> Schema {
        let mut b = SchemaBuilder::new();
        for r in rows {
            b.observe(r.as_object().unwrap()).unwrap();
        }
        assert_eq!(b.rows(), rows.len() as u64);
        b.finish()
    }

    fn col(name: &str, data_type: DataType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type,
            nullable,
        }
    }

    #[test]
    fn widening_rules() {
        use DataType::*;
        assert_eq!(Integer.widen(Float), Float);
        assert_eq!(Float.widen(Integer), Float);
        assert_eq!(Null.widen(String), String);
        assert_eq!(Boolean.widen(Null), Boolean);
        assert_eq!(Integer.widen(String), Mixed);
        assert_eq!(Array.widen(Object), Mixed);
        assert_eq!(Mixed.widen(Null), Mixed);
        assert_eq!(Mixed.widen(Integer), Mixed);
        assert_eq!(Object.widen(Object), Object);
    }

    #[test]
    fn infers_types_nullability_and_first_seen_order() {
        let s = infer(&[
            json!({"id": 1, "score": 2, "tags": ["a"], "meta": {"k": 1}, "flag": true, "x": 1}),
            json!({"id": 2, "score": 2.5, "tags": [], "meta": null, "flag": false, "x": "one", "late": "z"}),
            json!({"id": 3, "score": -1, "tags": ["b"], "meta": {}, "flag": true, "x": null, "never": null}),
        ]);
        assert_eq!(s.columns.len(), 8);
        // Fields first seen in later rows come after those of the first row.
        let names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[6..], ["late", "never"]);
        assert_eq!(
            s.column("flag"),
            Some(&col("flag", DataType::Boolean, false))
        );
        assert_eq!(s.column("meta"), Some(&col("meta", DataType::Object, true)));
        assert_eq!(s.column("tags"), Some(&col("tags", DataType::Array, false)));
        assert_eq!(s.column("x"), Some(&col("x", DataType::Mixed, true)));
        // Absent in the first row, so nullable though never null.
        assert_eq!(s.column("late"), Some(&col("late", DataType::String, true)));
        assert_eq!(s.column("never"), Some(&col("never", DataType::Null, true)));
        assert_eq!(s.column("id"), Some(&col("id", DataType::Integer, false)));
        assert_eq!(s.column("score").unwrap().data_type, DataType::Float);
        assert_eq!(s.column("x").unwrap().data_type, DataType::Mixed);
        assert!(s.column("nope").is_none());
    }

    #[test]
    fn columns_keep_first_seen_order() {
        let mut b = SchemaBuilder::new();
        let mut r1 = Row::new();
        r1.insert("b".into(), json!(1));
        let mut r2 = Row::new();
        r2.insert("a".into(), json!(1));
        r2.insert("b".into(), json!(2));
        b.observe(&r1).unwrap();
        b.observe(&r2).unwrap();
        let names: Vec<_> = b.finish().columns.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn serde_round_trip_and_shape() {
        let s = infer(&[json!({"a": 1, "b": null})]);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"columns":[{"name":"a","data_type":"integer","nullable":false},{"name":"b","data_type":"null","nullable":true}]}"#
        );
        assert_eq!(serde_json::from_str::<Schema>(&text).unwrap(), s);
    }

    #[test]
    fn too_many_columns_is_an_error() {
        let mut b = SchemaBuilder::new();
        let mut row = Row::new();
        for i in 0..MAX_COLUMNS {
            row.insert(format!("c{i}"), json!(i));
        }
        b.observe(&row).unwrap();
        let mut extra = Row::new();
        extra.insert("one_more".into(), json!(1));
        let err = b.observe(&extra).unwrap_err();
        assert!(
            matches!(err, DataError::TooManyColumns { row: 2, .. }),
            "{err:?}"
        );
    }
}
