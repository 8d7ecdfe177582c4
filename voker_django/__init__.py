"""voker_django."""
