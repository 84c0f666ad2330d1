"""HTML pages: templates, i18n and the page engine every page is rendered by."""
