//! The store contract: one test suite for the core's store ports, written once and run against
//! every store implementation (SQLite now, PostgreSQL later), so that they behave alike down to
//! the constraint names in their errors. It owns the test functions (one module per port), the
//! fixtures they build on, and [`store_contract_tests!`], which turns them into `#[tokio::test]`s
//! in the store's own test binary. It knows no store implementation.
//!
//! Each contract function takes a fresh, migrated, empty store and panics on a breach.
//!
//! This is test-support code: panicking (`unwrap`, `assert!`) is how it reports.
#![allow(clippy::unwrap_used)]

pub mod chargers;
pub mod fixtures;
pub mod network;
pub mod operators;
pub mod partners;
pub mod sessions;
pub mod settlement;
pub mod transactions;

use std::fmt::Debug;

use openpile_core::error::StoreError;

/// Asserts that `result` failed with a conflict on `constraint`.
#[track_caller]
pub fn assert_conflict<T: Debug>(result: Result<T, StoreError>, constraint: &str) {
    match result {
        Err(StoreError::Conflict { constraint: got }) if got == constraint => {}
        other => panic!("expected a conflict on {constraint}, got {other:?}"),
    }
}

/// Asserts that `result` failed with `NotFound`.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Expands into one `#[tokio::test]` per contract function, grouped in one module per port, so
/// each shows up by name (`network::put_station_needs_its_tariff`) in `cargo test`.
///
/// `$make` is an expression (it may `.await`) evaluated afresh in every test, giving
/// `(store, guard)`: the store under test, and whatever must live as long as it (a temporary
/// directory, a throwaway database); use `()` when there is nothing to keep.
///
/// ```ignore
/// openpile_store_contract::store_contract_tests!(fresh_store().await);
/// ```
///
/// To add a port: write `src/<port>.rs` with `pub async fn <name><S: …>(store: S)` functions
/// and add a `<port>: [ … ]` section below listing them.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::__store_contract_sections! {
            $make;
            network: [
                station_round_trips,
                put_station_updates_in_place,
                put_station_needs_its_tariff,
                unknown_station_is_not_found,
                stations_page_without_gaps_or_duplicates,
                retired_stations_are_listed_only_on_request,
                retiring_a_station_retires_its_chargers_and_connectors,
                retiring_an_unknown_station_is_not_found,
                charger_round_trips_with_its_password_flag,
                put_charger_needs_its_station,
                put_charger_keeps_a_learnt_registration_unless_disabling,
                put_charger_without_hash_keeps_the_password,
                charger_password_is_replaced,
                unknown_charger_is_not_found,
                chargers_are_listed_by_station_and_paged,
                retiring_a_charger_retires_its_connectors,
                new_connector_starts_offline_at_sequence_zero,
                put_connector_needs_its_charger,
                connector_numbers_are_unique_per_charger,
                updating_a_connector_keeps_its_live_state,
                unknown_connector_is_not_found,
                connectors_are_filtered_and_paged,
                connectors_updated_since_are_found,
                retiring_a_connector_hides_it,
                tariff_round_trips,
                tariff_versions_are_kept_oldest_first,
                tariff_in_force_is_the_latest_effective_version,
                tariff_versions_must_follow_in_order,
                identical_tariff_version_is_a_no_op,
                changed_tariff_version_is_a_conflict,
                tariffs_list_their_latest_version_paged,
                import_writes_the_whole_network,
                import_is_idempotent,
                import_with_a_bad_connector_writes_nothing,
                import_with_a_conflicting_tariff_writes_nothing,
                import_with_duplicate_connector_numbers_writes_nothing,
            ];
            chargers: [
                credentials_reflect_password_registration_and_retirement,
                credentials_of_unknown_charger_are_not_found,
                boot_registers_and_records_the_charger,
                boot_keeps_a_disabled_charger_disabled,
                boot_of_unknown_charger_is_not_found,
                seen_time_only_moves_forward,
                seen_of_unknown_charger_is_not_found,
                status_change_grows_the_sequence,
                repeated_status_is_not_a_change,
                stale_status_is_ignored,
                first_status_applies_whatever_its_time,
                connector_zero_status_fans_out,
                status_for_unknown_connector_or_charger_is_not_found,
                status_of_retired_connector_is_ignored,
                mark_offline_turns_every_connector_offline,
                mark_offline_of_unknown_charger_is_not_found,
                mark_all_offline_covers_every_charger,
                concurrent_status_reports_all_apply,
            ];
            operators: [
                operator_is_created_and_found_by_email,
                duplicate_email_is_a_conflict,
                unknown_email_is_not_found,
                operator_password_is_replaced,
                live_token_finds_its_session,
                expired_token_is_not_found,
                revoked_token_is_not_found,
                revoking_unknown_token_is_not_found,
                token_needs_its_operator,
                duplicate_token_is_a_conflict,
                audit_is_listed_newest_first_and_paged,
                duplicate_audit_id_is_a_conflict,
            ];
            partners: [
                application_creates_account_partner_credential_and_notification,
                duplicate_email_or_company_is_a_conflict_and_writes_nothing,
                unknown_application_partner_and_credential_are_not_found,
                applications_are_listed_by_status_and_paged,
                rejection_then_resubmission_keeps_the_history,
                approval_activates_the_partner_with_contract_and_production_credential,
                deciding_twice_or_a_stale_revision_is_a_conflict,
                suspension_revokes_tokens_and_resuming_does_not_revive_them,
                rotation_keeps_at_most_two_live_secrets,
                tokens_are_found_by_hash_with_their_secret_and_partner_state,
                expired_tokens_are_purged,
                notifications_are_listed_newest_first_and_paged,
                catalog_loads_everything_then_only_what_changed,
            ];
            transactions: [
                starts_get_positive_increasing_ids,
                retransmitted_start_gets_the_same_id,
                unknown_tag_is_invalid_but_still_gets_an_id,
                local_tags_are_judged_case_insensitively,
                bound_tag_links_the_start_to_its_session_once,
                a_live_binding_is_not_taken_by_another_session,
                meter_values_attach_to_their_transaction,
                stop_closes_the_transaction_once,
                stop_of_an_unknown_or_foreign_transaction_is_an_orphan,
                start_on_an_impossible_connector_is_recorded,
                parked_messages_are_listed_newest_first,
                unknown_transaction_is_not_found,
            ];
            sessions: [
                a_session_is_recorded_with_its_tag_binding,
                the_same_order_returns_the_recorded_session,
                one_active_partner_session_per_connector,
                a_finishing_session_keeps_its_connector_and_its_idle_clock,
                another_partners_reservation_keeps_the_connector,
                a_session_cannot_use_a_reservation_that_is_not_active,
                updates_are_compare_and_set_and_write_their_events,
                a_linked_transaction_wins_over_a_failing_update,
                failing_a_session_releases_its_tag,
                a_session_and_its_reservation_change_together,
                local_sessions_are_recorded_once_and_never_listed,
                sessions_are_listed_per_partner_filtered_and_paged,
                due_sessions_and_reservations_are_found_by_their_check_time,
                reservations_get_ocpp_ids_and_hold_their_connector,
                a_completion_writes_its_cdr_with_it_once,
            ];
            settlement: [
                cdr_round_trips_and_lists_by_booking_time,
                a_session_gets_one_cdr,
                credits_reference_their_original,
                terms_are_kept_per_partner,
                a_statement_gathers_each_cdr_once,
                a_report_is_stored_with_its_reconciliation,
                a_resolution_is_recorded_once_with_its_credit,
                state_changes_check_state_and_version,
                cdrs_are_immutable,
            ];
        }
    };
}

/// Writes one module of tests per `<module>: [functions]` section. Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_sections {
    ($make:expr; $($module:ident: [$($name:ident),* $(,)?];)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[::tokio::test]
                    async fn $name() {
                        let (store, _guard) = $make;
                        $crate::$module::$name(store).await;
                    }
                )*
            }
        )*
    };
}
