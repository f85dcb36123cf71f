"""The stability lab: sweeps, reports and figures reproducing the paper's claims."""
