//! Citadel's monitors: drift between a baseline and a window of traffic, alert rules and their
//! notifications, the compliance report and the SIEM export. Pure logic over records the service
//! layer reads; storage, authorization and auditing stay in `citadel-service`.
pub mod alerts;
pub mod compliance;
pub mod drift;
pub mod ocsf;
pub mod webhook;
