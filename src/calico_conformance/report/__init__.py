"""Reports rendered from summary.json: the HTML page, JUnit, the bundle, comparisons."""
