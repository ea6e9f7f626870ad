"""The foundation the parts of halfday share: the config reader, the database base, the domain's words, the web
toolkit and the language system. It imports nothing of ours but hardware's constants."""
