"""Training PF-AFN: the PB-AFN tutor, the PF-AFN student, distillation, and a resumable trainer."""
