"""The instructor's tool: release student versions, grade submissions, write feedback."""
