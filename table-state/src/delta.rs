//! Delta table state. (In progress.)
