"""Forms service: form definitions, validation, spam defences, submission store, HTTP app."""
