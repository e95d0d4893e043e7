"""`mnist-ann predict --ray`: the same job on a Ray cluster. Ray is imported only through connection.

driver      the tasks, the actor pool, the rows written in input order
actor       what each Ray actor runs: decode, prepare, score
connection  joining or starting a cluster, its daemons in a session of their own
"""
