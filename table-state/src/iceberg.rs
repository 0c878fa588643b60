//! Iceberg table state. (In progress.)
