"""From scenes to observations: windowed COG reads over the AOI and at label points.

``scenes`` builds the scene manifest (STAC search, de-duplication, AOI quality); ``quality`` measures a
scene's usable share over the AOI from its scene classification (SCL); ``sample`` reads one scene's bands at
many points, block by block; ``stage`` is the extract stage (plan, resume, manifest). The per-scene units
are pure functions that the local and Spark engines schedule (DESIGN §4).
"""
