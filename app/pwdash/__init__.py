"""The perfwatch dashboard's modules (presentation only: data comes from perfwatch.analysis.frames).

Named ``pwdash`` rather than something generic because Streamlit puts app/ on sys.path, where a
module called ``data`` or ``views`` could shadow an installed package."""
