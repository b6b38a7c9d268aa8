"""Weekly reports (HTML and PDF, per site and for the district) and the ledger exports."""
