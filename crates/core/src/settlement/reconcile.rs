//! Reconciliation: a pure comparison, order by order, of a statement's CDRs with the partner's
//! report.
//!
//! Our side is per order: a session CDR and any credit CDRs against it share the partner's order
//! id, so the order's energy and amount are their sums (what the partner should have collected
//! after corrections). A report line finds its order by order id, or else by our session id when
//! the partner gave one. Then:
//!
//! - `matched`: energy and amount agree within the tolerances;
//! - `amount_mismatch`: the amounts differ by more than the amount tolerance (whatever the
//!   energy does — money is what has to be settled);
//! - `energy_mismatch`: the amounts agree but the energies differ by more than the energy
//!   tolerance;
//! - `missing_on_operator`: we have no such order on this statement (nor elsewhere);
//! - `duplicate`: the line names an order another line of this report already claimed (by order
//!   id or session id), or an order already settled on another of the partner's statements;
//! - `missing_on_partner`: an order of ours that no line of the report claimed.
//!
//! The items come in report order, then the missing orders in order-id order, so the result is
//! deterministic.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::ids::SessionId;
use crate::money::Money;
use crate::settlement::cdr::CdrId;
use crate::settlement::report::PartnerReport;
use crate::settlement::statement::CdrFigures;

/// How far apart figures may be and still match. Configurable; exact by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tolerance {
    pub amount: Money,
    pub energy: Wh,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            amount: Money::ZERO,
            energy: Wh::ZERO,
        }
    }
}

/// The outcome for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Matched,
    EnergyMismatch,
    AmountMismatch,
    MissingOnPartner,
    MissingOnOperator,
    Duplicate,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Self::Matched,
        Self::EnergyMismatch,
        Self::AmountMismatch,
        Self::MissingOnPartner,
        Self::MissingOnOperator,
        Self::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::EnergyMismatch => "energy_mismatch",
            Self::AmountMismatch => "amount_mismatch",
            Self::MissingOnPartner => "missing_on_partner",
            Self::MissingOnOperator => "missing_on_operator",
            Self::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Needs the operator's resolution before the statement can be confirmed.
    pub fn is_discrepancy(self) -> bool {
        self != Self::Matched
    }
}

/// One order of ours: its session CDR and the credits against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OurOrder {
    pub order_id: String,
    pub session_id: SessionId,
    /// The session CDR (credits reference it).
    pub cdr_id: CdrId,
    pub energy: Wh,
    pub amount: Money,
}

/// Groups a statement's CDRs into orders. Credits whose original is on another statement
/// still count against their order id here.
pub fn orders_of<'a>(cdrs: impl IntoIterator<Item = &'a CdrFigures>) -> Vec<OurOrder> {
    let mut by_order: BTreeMap<&str, OurOrder> = BTreeMap::new();
    for c in cdrs {
        let entry = by_order
            .entry(c.partner_order_id.as_str())
            .or_insert_with(|| OurOrder {
                order_id: c.partner_order_id.clone(),
                session_id: c.session_id.clone(),
                cdr_id: c.original.clone().unwrap_or_else(|| c.cdr_id.clone()),
                energy: Wh::ZERO,
                amount: Money::ZERO,
            });
        entry.energy = entry.energy + c.energy;
        entry.amount = entry.amount + c.total;
    }
    by_order.into_values().collect()
}

/// One compared order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationItem {
    /// 1-based position in the result.
    pub seq: u64,
    pub category: Category,
    pub order_id: Option<String>,
    /// Our session CDR for the order, when we have one.
    pub cdr_id: Option<CdrId>,
    /// The partner's report line, when the item comes from one.
    pub report_line: Option<u64>,
    pub our_energy: Option<Wh>,
    pub their_energy: Option<Wh>,
    pub our_amount: Option<Money>,
    pub their_amount: Option<Money>,
}

impl ReconciliationItem {
    /// Their amount minus ours, where both exist.
    pub fn amount_difference(&self) -> Option<Money> {
        Some(self.their_amount? - self.our_amount?)
    }
}

/// Counts and sums of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconciliationSummary {
    pub tolerance: Tolerance,
    pub report_lines: u64,
    pub our_orders: u64,
    pub matched: u64,
    pub energy_mismatch: u64,
    pub amount_mismatch: u64,
    pub missing_on_partner: u64,
    pub missing_on_operator: u64,
    pub duplicate: u64,
    pub our_energy: Wh,
    pub their_energy: Wh,
    /// The sum of our orders' amounts.
    pub our_amount: Money,
    /// The partner's declared total.
    pub their_amount: Money,
    /// `their_amount − our_amount`.
    pub difference: Money,
}

impl ReconciliationSummary {
    pub fn discrepancies(&self) -> u64 {
        self.energy_mismatch
            + self.amount_mismatch
            + self.missing_on_partner
            + self.missing_on_operator
            + self.duplicate
    }

    pub fn count(&self, c: Category) -> u64 {
        match c {
            Category::Matched => self.matched,
            Category::EnergyMismatch => self.energy_mismatch,
            Category::AmountMismatch => self.amount_mismatch,
            Category::MissingOnPartner => self.missing_on_partner,
            Category::MissingOnOperator => self.missing_on_operator,
            Category::Duplicate => self.duplicate,
        }
    }

    fn bump(&mut self, c: Category) {
        let n = match c {
            Category::Matched => &mut self.matched,
            Category::EnergyMismatch => &mut self.energy_mismatch,
            Category::AmountMismatch => &mut self.amount_mismatch,
            Category::MissingOnPartner => &mut self.missing_on_partner,
            Category::MissingOnOperator => &mut self.missing_on_operator,
            Category::Duplicate => &mut self.duplicate,
        };
        *n += 1;
    }
}

/// A reconciliation's items and summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub items: Vec<ReconciliationItem>,
    pub summary: ReconciliationSummary,
}

fn abs(m: Money) -> Money {
    if m.is_negative() { Money::ZERO - m } else { m }
}

/// Compares `ours` (the statement's orders) with `report`. `settled_elsewhere` holds the order
/// ids of the report that sit on another statement of the same partner.
pub fn reconcile(
    ours: &[OurOrder],
    report: &PartnerReport,
    settled_elsewhere: &HashSet<String>,
    tolerance: Tolerance,
) -> Reconciliation {
    let by_order: HashMap<&str, usize> = ours
        .iter()
        .enumerate()
        .map(|(i, o)| (o.order_id.as_str(), i))
        .collect();
    let by_session: HashMap<&SessionId, usize> = ours
        .iter()
        .enumerate()
        .map(|(i, o)| (&o.session_id, i))
        .collect();
    let mut claimed = vec![false; ours.len()];
    let mut items = Vec::with_capacity(report.lines.len().max(ours.len()));
    let mut summary = ReconciliationSummary {
        tolerance,
        report_lines: report.lines.len() as u64,
        our_orders: ours.len() as u64,
        our_energy: Wh(ours.iter().map(|o| o.energy.0).sum()),
        their_energy: report.total_energy,
        our_amount: ours.iter().map(|o| o.amount).sum(),
        their_amount: report.total_amount,
        ..Default::default()
    };
    summary.difference = summary.their_amount - summary.our_amount;

    for line in &report.lines {
        let found = by_order.get(line.order_id.as_str()).copied().or_else(|| {
            line.session_id
                .as_ref()
                .and_then(|s| by_session.get(s).copied())
        });
        let mut item = ReconciliationItem {
            seq: 0,
            category: Category::Matched,
            order_id: Some(line.order_id.clone()),
            cdr_id: None,
            report_line: Some(line.line),
            our_energy: None,
            their_energy: Some(line.energy),
            our_amount: None,
            their_amount: Some(line.amount),
        };
        match found {
            Some(i) => {
                let o = &ours[i];
                item.cdr_id = Some(o.cdr_id.clone());
                item.our_energy = Some(o.energy);
                item.our_amount = Some(o.amount);
                item.category = if claimed[i] {
                    Category::Duplicate
                } else if abs(line.amount - o.amount) > tolerance.amount {
                    Category::AmountMismatch
                } else if (line.energy.0 - o.energy.0).abs() > tolerance.energy.0 {
                    Category::EnergyMismatch
                } else {
                    Category::Matched
                };
                claimed[i] = true;
            }
            None if settled_elsewhere.contains(&line.order_id) => {
                item.category = Category::Duplicate;
            }
            None => item.category = Category::MissingOnOperator,
        }
        summary.bump(item.category);
        items.push(item);
    }
    // `ours` is in order-id order when built by `orders_of`.
    for (o, _) in ours.iter().zip(&claimed).filter(|(_, c)| !**c) {
        summary.bump(Category::MissingOnPartner);
        items.push(ReconciliationItem {
            seq: 0,
            category: Category::MissingOnPartner,
            order_id: Some(o.order_id.clone()),
            cdr_id: Some(o.cdr_id.clone()),
            report_line: None,
            our_energy: Some(o.energy),
            their_energy: None,
            our_amount: Some(o.amount),
            their_amount: None,
        });
    }
    for (i, item) in items.iter_mut().enumerate() {
        item.seq = i as u64 + 1;
    }
    Reconciliation { items, summary }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settlement::report::{ReportFormat, ReportLine};
    use rust_decimal::Decimal;

    fn m(cents: i64) -> Money {
        Money::new(Decimal::new(cents, 2))
    }

    fn order(n: u32, wh: i64, cents: i64) -> OurOrder {
        OurOrder {
            order_id: format!("O-{n}"),
            session_id: SessionId::parse(format!("s-{n}")).unwrap(),
            cdr_id: CdrId::parse(format!("s-{n}")).unwrap(),
            energy: Wh(wh),
            amount: m(cents),
        }
    }

    fn line(at: u64, order: &str, session: Option<&str>, wh: i64, cents: i64) -> ReportLine {
        ReportLine {
            line: at,
            order_id: order.into(),
            session_id: session.map(|s| SessionId::parse(s).unwrap()),
            energy: Wh(wh),
            amount: m(cents),
        }
    }

    fn report(lines: Vec<ReportLine>) -> PartnerReport {
        PartnerReport {
            format: ReportFormat::Json,
            total_energy: Wh(lines.iter().map(|l| l.energy.0).sum()),
            total_amount: lines.iter().map(|l| l.amount).sum(),
            lines,
        }
    }

    #[test]
    fn every_category_is_found() {
        let ours = vec![
            order(1, 10_000, 1_400),
            order(2, 20_000, 2_800),
            order(3, 30_000, 4_200),
            order(4, 5_000, 700),
            order(5, 1_000, 140),
        ];
        let r = report(vec![
            line(1, "O-1", None, 10_000, 1_400),     // matched
            line(2, "O-2", None, 20_001, 2_800),     // energy differs, amount agrees
            line(3, "O-3", None, 30_000, 4_000),     // amount differs
            line(4, "X-9", None, 1_000, 100),        // unknown to us
            line(5, "P-5", Some("s-5"), 1_000, 140), // their own order id, our session id
            line(6, "O-1", None, 10_000, 1_400),     // claims O-1 again (by order id)
            line(7, "OLD-1", None, 1_000, 100),      // settled on an earlier statement
        ]);
        let elsewhere: HashSet<String> = ["OLD-1".to_string()].into();
        let rec = reconcile(&ours, &r, &elsewhere, Tolerance::default());
        let got: Vec<(Option<&str>, Category)> = rec
            .items
            .iter()
            .map(|i| (i.order_id.as_deref(), i.category))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("O-1"), Category::Matched),
                (Some("O-2"), Category::EnergyMismatch),
                (Some("O-3"), Category::AmountMismatch),
                (Some("X-9"), Category::MissingOnOperator),
                (Some("P-5"), Category::Matched),
                (Some("O-1"), Category::Duplicate),
                (Some("OLD-1"), Category::Duplicate),
                (Some("O-4"), Category::MissingOnPartner),
            ]
        );
        let s = &rec.summary;
        assert_eq!((s.matched, s.energy_mismatch, s.amount_mismatch), (2, 1, 1));
        assert_eq!(
            (s.missing_on_operator, s.duplicate, s.missing_on_partner),
            (1, 2, 1)
        );
        assert_eq!(s.discrepancies(), 6);
        assert_eq!(rec.items[2].amount_difference(), Some(m(-200)));
        assert_eq!(
            rec.items.iter().map(|i| i.seq).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn tolerances_absorb_small_differences() {
        let ours = vec![order(1, 10_000, 1_400)];
        let r = report(vec![line(1, "O-1", None, 10_050, 1_401)]);
        let exact = reconcile(&ours, &r, &HashSet::new(), Tolerance::default());
        assert_eq!(exact.items[0].category, Category::AmountMismatch);
        let loose = Tolerance {
            amount: m(1),
            energy: Wh(50),
        };
        let rec = reconcile(&ours, &r, &HashSet::new(), loose);
        assert_eq!(rec.items[0].category, Category::Matched);
        let tight_energy = Tolerance {
            amount: m(1),
            energy: Wh(49),
        };
        let rec = reconcile(&ours, &r, &HashSet::new(), tight_energy);
        assert_eq!(rec.items[0].category, Category::EnergyMismatch);
    }

    #[test]
    fn an_empty_report_leaves_everything_missing_on_partner() {
        let ours = vec![order(2, 1, 1), order(1, 1, 1)];
        let rec = reconcile(
            &ours,
            &report(vec![]),
            &HashSet::new(),
            Tolerance::default(),
        );
        assert_eq!(rec.summary.missing_on_partner, 2);
        assert_eq!(rec.summary.difference, m(-2));
    }

    mod properties {
        use super::*;
        use crate::settlement::statement::CdrFigures;
        use chrono::{TimeZone, Utc};
        use proptest::prelude::*;

        /// CDR figures of up to 60 orders, some with a credit against them.
        fn figures() -> impl Strategy<Value = Vec<CdrFigures>> {
            prop::collection::vec(
                (0i64..80_000, 0i64..20_000, any::<bool>(), 0i64..100),
                0..60,
            )
            .prop_map(|v| {
                let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
                let mut out = Vec::new();
                for (i, (wh, cents, credited, credit_cents)) in v.into_iter().enumerate() {
                    let id = CdrId::parse(format!("s-{i}")).unwrap();
                    let fig = |cdr_id: CdrId, original: Option<CdrId>, wh, cents| CdrFigures {
                        cdr_id,
                        original,
                        session_id: SessionId::parse(format!("s-{i}")).unwrap(),
                        partner_order_id: format!("O-{i}"),
                        started_at: t,
                        stopped_at: t,
                        booked_at: t,
                        energy: Wh(wh),
                        electricity_fee: Money::ZERO,
                        service_fee: m(cents),
                        idle_fee: Money::ZERO,
                        total: m(cents),
                    };
                    out.push(fig(id.clone(), None, wh, cents));
                    if credited {
                        let c = CdrId::parse(format!("CR-{i}")).unwrap();
                        out.push(fig(c, Some(id), 0, -credit_cents.min(cents)));
                    }
                }
                out
            })
        }

        proptest! {
            /// Our own orders reported back unchanged, in any order, are all matched, and the
            /// summary's sums agree.
            #[test]
            fn our_own_cdrs_reported_back_all_match(figs in figures(), seed in any::<u64>()) {
                let ours = orders_of(&figs);
                let mut lines: Vec<ReportLine> = ours
                    .iter()
                    .enumerate()
                    .map(|(i, o)| ReportLine {
                        line: i as u64 + 1,
                        order_id: o.order_id.clone(),
                        session_id: (seed % 2 == 0).then(|| o.session_id.clone()),
                        energy: o.energy,
                        amount: o.amount,
                    })
                    .collect();
                // A deterministic shuffle from the seed.
                let n = lines.len();
                for i in 0..n {
                    let j = (seed as usize).wrapping_mul(i + 7) % n;
                    lines.swap(i, j);
                }
                let rec = reconcile(&ours, &report(lines), &HashSet::new(), Tolerance::default());
                prop_assert_eq!(rec.summary.matched, ours.len() as u64);
                prop_assert_eq!(rec.summary.discrepancies(), 0);
                prop_assert_eq!(rec.summary.difference, Money::ZERO);
                prop_assert!(rec.items.iter().all(|i| i.category == Category::Matched));
            }

            /// Changing one reported amount by a cent makes exactly that order an amount
            /// mismatch.
            #[test]
            fn one_changed_amount_is_one_mismatch(figs in figures(), pick in any::<prop::sample::Index>()) {
                let ours = orders_of(&figs);
                prop_assume!(!ours.is_empty());
                let k = pick.index(ours.len());
                let lines: Vec<ReportLine> = ours
                    .iter()
                    .enumerate()
                    .map(|(i, o)| ReportLine {
                        line: i as u64 + 1,
                        order_id: o.order_id.clone(),
                        session_id: None,
                        energy: o.energy,
                        amount: if i == k { o.amount + m(1) } else { o.amount },
                    })
                    .collect();
                let rec = reconcile(&ours, &report(lines), &HashSet::new(), Tolerance::default());
                prop_assert_eq!(rec.summary.amount_mismatch, 1);
                prop_assert_eq!(rec.summary.matched, ours.len() as u64 - 1);
                prop_assert_eq!(rec.items[k].category, Category::AmountMismatch);
            }
        }
    }
}
