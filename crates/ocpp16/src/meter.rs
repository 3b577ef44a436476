//! Turns OCPP sampled values into the domain's meter samples: energy registers to integer Wh,
//! power to integer W, state of charge, voltage and current as decimals. Values arrive as
//! strings (OCPP 1.6 §7.43) and are read as decimals, never floats. What cannot be read is
//! reported back as a problem for the handler to park, never as an error to the charger
//! (OCPP 1.6 §4.7: meter values must not be refused for their content).

use std::str::FromStr;

use openpile_core::charging::{Measurement, MeterSample};
use openpile_core::energy::{Watts, Wh};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::messages::types::{Measurand, MeterValue, SampledValue, UnitOfMeasure, ValueFormat};

/// Samples we understood, and a description of each one we could not use.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Converted {
    pub(crate) samples: Vec<MeterSample>,
    pub(crate) problems: Vec<String>,
}

pub(crate) fn convert(meter_values: &[MeterValue]) -> Converted {
    let mut out = Converted::default();
    for mv in meter_values {
        for sv in &mv.sampled_value {
            match measurement(sv) {
                Ok(Some(measurement)) => out.samples.push(MeterSample {
                    at: mv.timestamp.0,
                    measurement,
                    phase: sv.phase.map(|p| p.as_str().to_owned()),
                    context: sv.context.map(|c| c.as_str().to_owned()),
                }),
                Ok(None) => {}
                Err(problem) => out.problems.push(problem),
            }
        }
    }
    out
}

/// Reads a decimal written as plain or scientific notation (`"1234"`, `"12.5"`, `"1.2e3"`).
fn decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .ok()
}

fn whole(d: Decimal) -> Option<i64> {
    i64::try_from(d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)).ok()
}

/// `Ok(None)` for measurands we do not keep (temperature, frequency, export registers, …) and
/// for signed data, which is not a number.
fn measurement(sv: &SampledValue) -> Result<Option<Measurement>, String> {
    use Measurand as M;
    use UnitOfMeasure as U;
    if sv.format == Some(ValueFormat::SignedData) {
        return Ok(None);
    }
    let measurand = sv.measurand_or_default();
    let kept = matches!(
        measurand,
        M::EnergyActiveImportRegister
            | M::PowerActiveImport
            | M::SoC
            | M::Voltage
            | M::CurrentImport
    );
    if !kept {
        return Ok(None);
    }
    let bad_unit = |unit: UnitOfMeasure| format!("{measurand}: unit {unit} does not fit");
    let value = decimal(&sv.value)
        .ok_or_else(|| format!("{measurand}: value {:?} is not a number", sv.value))?;
    let m = match measurand {
        M::EnergyActiveImportRegister => {
            let wh = match sv.unit.unwrap_or(U::Wh) {
                U::Wh => value,
                U::KWh => value * Decimal::from(1000),
                other => return Err(bad_unit(other)),
            };
            if wh.is_sign_negative() && !wh.is_zero() {
                return Err(format!("{measurand}: negative register {}", sv.value));
            }
            Measurement::EnergyImportRegister(Wh(whole(wh)
                .ok_or_else(|| format!("{measurand}: value {:?} out of range", sv.value))?))
        }
        M::PowerActiveImport => {
            let w = match sv.unit.unwrap_or(U::W) {
                U::W => value,
                U::KW => value * Decimal::from(1000),
                other => return Err(bad_unit(other)),
            };
            Measurement::PowerImport(Watts(
                whole(w)
                    .ok_or_else(|| format!("{measurand}: value {:?} out of range", sv.value))?,
            ))
        }
        M::SoC => match sv.unit.unwrap_or(U::Percent) {
            U::Percent => Measurement::StateOfCharge(value),
            other => return Err(bad_unit(other)),
        },
        M::Voltage => match sv.unit.unwrap_or(U::V) {
            U::V => Measurement::Voltage(value),
            other => return Err(bad_unit(other)),
        },
        _ => match sv.unit.unwrap_or(U::A) {
            U::A => Measurement::CurrentImport(value),
            other => return Err(bad_unit(other)),
        },
    };
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::types::{Phase, ReadingContext, Timestamp};

    fn sv(value: &str, measurand: Option<Measurand>, unit: Option<UnitOfMeasure>) -> SampledValue {
        SampledValue {
            measurand,
            unit,
            ..SampledValue::new(value)
        }
    }

    #[allow(clippy::needless_pass_by_value)]
    fn one(s: SampledValue) -> Result<Option<Measurement>, String> {
        measurement(&s)
    }

    #[test]
    fn energy_is_whole_wh_from_wh_or_kwh() {
        use Measurement::EnergyImportRegister as E;
        assert_eq!(one(sv("1234", None, None)), Ok(Some(E(Wh(1234)))));
        assert_eq!(
            one(sv("12.3456", None, Some(UnitOfMeasure::KWh))),
            Ok(Some(E(Wh(12346))))
        );
        assert_eq!(
            one(sv("0.5", None, Some(UnitOfMeasure::Wh))),
            Ok(Some(E(Wh(1))))
        );
        assert_eq!(one(sv("1.5e3", None, None)), Ok(Some(E(Wh(1500)))));
        assert!(one(sv("12,5", None, None)).is_err());
        assert!(one(sv("-5", None, None)).is_err());
        assert!(one(sv("5", None, Some(UnitOfMeasure::Varh))).is_err());
    }

    #[test]
    fn power_soc_voltage_current_are_kept() {
        let p = Some(Measurand::PowerActiveImport);
        assert_eq!(
            one(sv("7360.0", p, None)),
            Ok(Some(Measurement::PowerImport(Watts(7360))))
        );
        assert_eq!(
            one(sv("7.36", p, Some(UnitOfMeasure::KW))),
            Ok(Some(Measurement::PowerImport(Watts(7360))))
        );
        assert_eq!(
            one(sv("55", Some(Measurand::SoC), None)),
            Ok(Some(Measurement::StateOfCharge(Decimal::from(55))))
        );
        assert_eq!(
            one(sv("230.1", Some(Measurand::Voltage), None)),
            Ok(Some(Measurement::Voltage(Decimal::new(2301, 1))))
        );
        assert_eq!(
            one(sv(
                "16",
                Some(Measurand::CurrentImport),
                Some(UnitOfMeasure::A)
            )),
            Ok(Some(Measurement::CurrentImport(Decimal::from(16))))
        );
        assert_eq!(
            one(sv(
                "21",
                Some(Measurand::Temperature),
                Some(UnitOfMeasure::Celcius)
            )),
            Ok(None)
        );
        let signed = SampledValue {
            format: Some(ValueFormat::SignedData),
            ..SampledValue::new("DEADBEEF")
        };
        assert_eq!(one(signed), Ok(None));
    }

    #[test]
    fn conversion_keeps_time_phase_context_and_collects_problems() {
        let ts = Timestamp::parse("2025-01-02T03:04:05Z").unwrap();
        let mv = MeterValue {
            timestamp: ts,
            sampled_value: vec![
                SampledValue {
                    phase: Some(Phase::L1N),
                    context: Some(ReadingContext::SamplePeriodic),
                    ..sv("230", Some(Measurand::Voltage), None)
                },
                sv("abc", None, None),
            ],
        };
        let c = convert(&[mv]);
        assert_eq!(c.samples.len(), 1);
        assert_eq!(c.samples[0].at, ts.0);
        assert_eq!(c.samples[0].phase.as_deref(), Some("L1-N"));
        assert_eq!(c.samples[0].context.as_deref(), Some("Sample.Periodic"));
        assert_eq!(c.problems.len(), 1);
    }
}
