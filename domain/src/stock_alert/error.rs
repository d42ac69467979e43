/// Stock alerts never refuse an assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stock alerts refuse nothing")]
pub struct NoRejection;

impl crate::Refusal for NoRejection {
    fn code(&self) -> &'static str {
        "internal"
    }

    fn kind(&self) -> crate::RefusalKind {
        crate::RefusalKind::Fault
    }
}
