"""The issuer: the vendor's certificate service.

It authenticates a box's database credentials, checks eligibility against subscriptions,
obtains certificates from a certificate authority backend, caches them, and revokes them.
"""
