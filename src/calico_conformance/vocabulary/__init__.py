"""The ground floor: the types and constants every layer shares (errors, facts, frames, what a
probe connection got, exit codes, image names). It imports nothing of the project, so any module
may import it without pulling a layer above in."""
