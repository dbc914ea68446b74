"""A dynamic registration's ``last_used_at``: the newest grant, code, token, device code or pushed
request of its client that ``cleartokens`` saw before deleting it, so a client stays known as used
after its rows are gone, and one nothing used for ``DYNAMIC_CLIENT_IDLE_TIMEOUT`` can be deleted.
Existing rows start empty: the first ``cleartokens`` run fills them from the rows still there.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth_provider', '0020_client_id_case_sensitive_on_mysql'),
    ]

    operations = [
        migrations.AddField(
            model_name='clientregistration',
            name='last_used_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='When the client last got a grant, code, token, device code or pushed request, as cleartokens last saw it: it records this before deleting those rows, and (if DYNAMIC_CLIENT_IDLE_TIMEOUT is set) deletes the client once nothing used it for that long.', null=True, verbose_name='last used'),
        ),
    ]
