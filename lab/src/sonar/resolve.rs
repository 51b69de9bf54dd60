//! GraphQL execution over the store: apollo-compiler's executor calls these objects one field
//! at a time. Lists and relations are resolved generically from the schema (a `FooConnection`
//! field lists `Foo` entities related to the parent), mutations by name.

use super::mutations;
use super::store::{int64, Entity, Page, Store};
use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::Schema;
use serde_json::{Map, Value};
use std::sync::Mutex;

fn err(message: impl Into<String>) -> FieldError {
    FieldError {
        message: message.into(),
    }
}

fn args_of(info: &ResolveInfo<'_>) -> Map<String, Value> {
    serde_json::to_value(info.arguments())
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

fn leaf<'a>(v: Value) -> ResolvedValue<'a> {
    ResolvedValue::Leaf(serde_json::from_value::<JsonValue>(v).unwrap_or(JsonValue::Null))
}

/// The scalar (argument-less) fields of an object type: the entity's columns.
fn columns(schema: &Schema, type_name: &str) -> Vec<String> {
    match schema.types.get(type_name) {
        Some(ExtendedType::Object(o)) => o
            .fields
            .iter()
            .filter(|(_, f)| {
                f.arguments.is_empty()
                    && matches!(
                        schema.types.get(f.ty.inner_named_type()),
                        Some(ExtendedType::Scalar(_)) | Some(ExtendedType::Enum(_))
                    )
            })
            .map(|(name, _)| name.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// The value Sonar would never leave null: used only when the store has no value for a
/// non-null column.
fn default_for(schema: &Schema, type_name: &str, entity: &Entity) -> Value {
    match type_name {
        "Int" => Value::from(0),
        "Float" => Value::from(0.0),
        "Boolean" => Value::Bool(false),
        "Int64Bit" => Value::from("0"),
        "Datetime" => entity
            .get("created_at")
            .cloned()
            .unwrap_or(Value::from("1970-01-01T00:00:00+00:00")),
        "Date" => Value::from("1970-01-01"),
        _ => match schema.types.get(type_name) {
            Some(ExtendedType::Enum(e)) => e
                .values
                .keys()
                .next()
                .map(|k| Value::from(k.as_str()))
                .unwrap_or(Value::Null),
            _ => Value::from(""),
        },
    }
}

/// The root `Query` object.
pub struct QueryRoot<'s> {
    /// The instance.
    pub store: &'s Mutex<Store>,
}

impl ObjectValue for QueryRoot<'_> {
    fn type_name(&self) -> &str {
        "Query"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let named = info.field_definition().ty.inner_named_type().as_str();
        let Some(entity_type) = named.strip_suffix("Connection") else {
            return Err(err(format!(
                "{} is not simulated by efi-lab",
                info.field_name()
            )));
        };
        let store = self.store.lock().unwrap();
        let candidates = store.all(entity_type).into_iter().cloned().collect();
        let page = store.page(candidates, &args_of(info)).map_err(err)?;
        Ok(ResolvedValue::object(Connection {
            entity_type: entity_type.to_owned(),
            type_name: named.to_owned(),
            page,
            store: self.store,
        }))
    }
}

/// A `FooConnection`: one page of entities.
pub struct Connection<'s> {
    entity_type: String,
    type_name: String,
    page: Page,
    store: &'s Mutex<Store>,
}

impl ObjectValue for Connection<'_> {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        match info.field_name() {
            "entities" => Ok(ResolvedValue::list(self.page.entities.iter().map(|e| {
                ResolvedValue::object(EntityObject {
                    type_name: self.entity_type.clone(),
                    entity: e.clone(),
                    store: self.store,
                })
            }))),
            "page_info" => Ok(ResolvedValue::object(PageInfo(self.page.clone()))),
            "aggregations" => Ok(ResolvedValue::list(std::iter::empty())),
            _ => Err(self.unknown_field_error(info)),
        }
    }
}

struct PageInfo(Page);

impl ObjectValue for PageInfo {
    fn type_name(&self) -> &str {
        "PageInfo"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let p = &self.0;
        Ok(leaf(Value::from(match info.field_name() {
            "page" => p.page,
            "total_pages" => p.total_pages(),
            "total_count" => p.total_count,
            "records_per_page" => p.records_per_page,
            _ => return Err(self.unknown_field_error(info)),
        })))
    }
}

/// A stored entity of a concrete object type.
pub struct EntityObject<'s> {
    type_name: String,
    entity: Entity,
    store: &'s Mutex<Store>,
}

impl EntityObject<'_> {
    fn scalar(&self, info: &ResolveInfo<'_>) -> Value {
        let def = info.field_definition();
        let named = def.ty.inner_named_type().as_str();
        let value = self
            .entity
            .get(info.field_name())
            .cloned()
            .unwrap_or(Value::Null);
        let value = if value.is_null() && def.ty.is_non_null() {
            default_for(info.schema(), named, &self.entity)
        } else {
            value
        };
        // Int64Bit is always serialised as a string.
        match (named, &value) {
            ("Int64Bit", Value::Number(n)) => Value::from(n.to_string()),
            _ => value,
        }
    }
}

impl ObjectValue for EntityObject<'_> {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let schema = info.schema();
        let def = info.field_definition();
        let named = def.ty.inner_named_type().as_str();
        let target = schema.types.get(named);
        if def.arguments.is_empty()
            && matches!(
                target,
                Some(ExtendedType::Scalar(_)) | Some(ExtendedType::Enum(_))
            )
        {
            return Ok(leaf(self.scalar(info)));
        }
        let field = info.field_name();
        if let Some(child_type) = named.strip_suffix("Connection") {
            let store = self.store.lock().unwrap();
            let children = store.children(
                &self.type_name,
                &self.entity,
                child_type,
                &columns(schema, child_type),
            );
            let page = store.page(children, &args_of(info)).map_err(err)?;
            return Ok(ResolvedValue::object(Connection {
                entity_type: child_type.to_owned(),
                type_name: named.to_owned(),
                page,
                store: self.store,
            }));
        }
        let store = self.store.lock().unwrap();
        let related = match target {
            // A polymorphic relation: `<field>_type` names the type, `<field>_id` the row.
            Some(ExtendedType::Interface(_)) | Some(ExtendedType::Union(_)) => {
                let ty = self
                    .entity
                    .get(&format!("{field}_type"))
                    .and_then(Value::as_str);
                let id = self.entity.get(&format!("{field}_id")).and_then(int64);
                match (ty, id) {
                    (Some(ty), Some(id)) => store.get(ty, id).map(|e| (ty.to_owned(), e.clone())),
                    _ => None,
                }
            }
            Some(ExtendedType::Object(_)) => {
                let fk = match (self.type_name.as_str(), field) {
                    ("IpAssignment", "parent_subnet") => "subnet_id".to_owned(),
                    _ => format!("{field}_id"),
                };
                self.entity
                    .get(&fk)
                    .and_then(int64)
                    .and_then(|id| store.get(named, id))
                    .map(|e| (named.to_owned(), e.clone()))
            }
            _ => None,
        };
        match related {
            Some((type_name, entity)) => Ok(ResolvedValue::object(EntityObject {
                type_name,
                entity,
                store: self.store,
            })),
            None if def.ty.is_non_null() => {
                Err(err(format!("{field} is not simulated by efi-lab")))
            }
            None => Ok(ResolvedValue::null()),
        }
    }
}

struct Success(bool, Option<String>);

impl ObjectValue for Success {
    fn type_name(&self) -> &str {
        "SuccessResponse"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        match info.field_name() {
            "success" => Ok(leaf(Value::Bool(self.0))),
            "message" => Ok(leaf(self.1.clone().map(Value::from).unwrap_or(Value::Null))),
            _ => Err(self.unknown_field_error(info)),
        }
    }
}

/// The root `Mutation` object.
pub struct MutationRoot<'s> {
    /// The instance.
    pub store: &'s Mutex<Store>,
}

impl<'s> MutationRoot<'s> {
    fn one(&self, type_name: &str, e: Entity) -> ResolvedValue<'s> {
        ResolvedValue::object(EntityObject {
            type_name: type_name.to_owned(),
            entity: e,
            store: self.store,
        })
    }

    fn many(&self, type_name: &str, es: Vec<Entity>) -> ResolvedValue<'s> {
        let objects: Vec<ResolvedValue<'s>> =
            es.into_iter().map(|e| self.one(type_name, e)).collect();
        ResolvedValue::list(objects)
    }
}

impl ObjectValue for MutationRoot<'_> {
    fn type_name(&self) -> &str {
        "Mutation"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let args = args_of(info);
        let mut store = self.store.lock().unwrap();
        let s = &mut *store;
        let out =
            match info.field_name() {
                "createIpAssignment" => {
                    mutations::create_ip_assignment(s, &args).map(|e| self.one("IpAssignment", e))
                }
                "updateIpAssignment" => {
                    mutations::update_ip_assignment(s, &args).map(|e| self.one("IpAssignment", e))
                }
                "deleteIpAssignment" => mutations::delete_ip_assignment(s, &args)
                    .map(|(ok, msg)| ResolvedValue::object(Success(ok, msg))),
                "createInventoryItems" => mutations::create_inventory_items(s, &args)
                    .map(|v| self.many("InventoryItem", v)),
                "updateInventoryItemFields" => mutations::update_inventory_item_fields(s, &args)
                    .map(|e| self.one("InventoryItem", e)),
                "assignInventoryItems" => mutations::assign_inventory_items(s, &args)
                    .map(|v| self.many("InventoryItem", v)),
                "updateInventoryItem" => {
                    mutations::update_inventory_item(s, &args).map(|e| self.one("InventoryItem", e))
                }
                "updateInventoryItems" => mutations::update_inventory_items(s, &args)
                    .map(|v| self.many("InventoryItem", v)),
                other => Err(format!("mutation {other} is not simulated by efi-lab")),
            };
        out.map_err(err)
    }
}
