"""The Streamlit dashboards: read-only views of the serving snapshot."""
